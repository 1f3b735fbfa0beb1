"""Reports: the stored results as records (records), tables (tables), an HTML page (html), figures
(plots), every format by name (formats), and the regression gate for CI (gate: its checks against a
baseline in baseline, against thresholds in thresholds, their result in gate_result, its output in
gate_text)."""
