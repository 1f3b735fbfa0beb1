"""Reports: the stored results as records (records), tables (tables), an HTML page (html), figures
(plots), every format by name (formats), and the regression gate for CI (gate)."""
