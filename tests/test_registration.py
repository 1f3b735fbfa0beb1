"""A new dataset and a new defense are one registration each (issue 27): registered from outside
hotbench, with no other file touched, they appear in `--help`, `doctor` checks the dataset's files,
the defense's parameters are checked (flag and preset) and enter the run id, `train` and a preset
train and attack them, the report shows their rows and the defense's parameters, and the ids of
undefended runs (and of runs stored before) do not move.

The registration runs in a fresh interpreter before the command line is imported, as a user's own
module (or an edit of hotbench/data.py and hotbench/defenses.py) would."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import torch
    import torch.nn.functional as F
    from typer.testing import CliRunner

    from hotbench import data
    from hotbench.defenses import DefenseSpec, Option, register
    from hotbench.params import Param

    tmp = Path(sys.argv[1])


    def toy_loader(data_dir, download):
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(90, 1, 8, 8, generator=gen)
        y = (x.mean(dim=(1, 2, 3)) * 3).long().clamp(0, 2)  # learnable: the brightness
        spec = data.DATASETS.get("toy")
        return data.Dataset(spec, data.Split(x[:60], y[:60]), data.Split(x[60:], y[60:]))


    data.register(
        data.DatasetSpec(
            "toy",
            "three brightness classes of random 8x8 images (a test's)",
            channels=1, size=8, num_classes=3, mean=(0.5,), std=(0.3,),
            default_arch="digits-cnn", default_epochs=2, train_eps=0.05,
            loader=toy_loader, files=("toy/toy.marker",),
        )
    )


    from hotbench.config import TrainConfig

    ids = {}  # run ids before and after the defense is registered
    ids["before"] = [TrainConfig(act="none", temp=1, epochs=20).run_id,
                     TrainConfig(act="none", defense="pgd-at").run_id,
                     TrainConfig(dataset="toy", act="none", temp=1).run_id]


    def toy_loss(cfg):
        smoothing = cfg.defense_params["smoothing"]

        def loss(model, x, y, gen):
            return F.cross_entropy(model(x), y, label_smoothing=smoothing)

        return loss


    register(
        DefenseSpec(
            "smooth",
            "label smoothing (a test's toy defense)",
            loss=toy_loss,
            params={"smoothing": Option(Param(float, lo=0, hi=1), "how much", 0.1, "0.1")},
        )
    )

    ids["after"] = [TrainConfig(act="none", temp=1, epochs=20).run_id,
                    TrainConfig(act="none", defense="pgd-at").run_id,
                    TrainConfig(dataset="toy", act="none", temp=1).run_id]
    smooth = lambda **p: TrainConfig(dataset="toy", act="none", defense="smooth", defense_params=p)
    ids["smooth"] = {"default": smooth().run_id, "0.1": smooth(smoothing=0.1).run_id,
                     "0.2": smooth(smoothing=0.2).run_id, "0.3": smooth(smoothing=0.3).run_id}
    ids["payload"] = smooth(smoothing=0.3).hash_payload()
    out = {"ids": ids}

    from hotbench.cli import app  # the command line reads the registries as it is imported

    runner = CliRunner()
    def run(*args):
        r = runner.invoke(app, [str(a) for a in args])
        return {"code": r.exit_code, "stdout": r.stdout, "stderr": r.stderr}

    out["help"] = run("train", "--help")
    out["doctor"] = run("doctor", "-f", "json", "--data-dir", tmp / "data")
    out["bad_param"] = run("train", "--dataset", "toy", "--defense", "smooth",
                           "--defense-param", "smoothing=2", "-w", tmp / "ws", "-q")
    out["bad_preset"] = run("run", tmp / "bad.yaml", "-w", tmp / "ws3", "--device", "cpu", "-q")
    out["train"] = run("train", "--dataset", "toy", "--act", "none", "--defense", "smooth",
                       "--defense-param", "smoothing=0.3", "-w", tmp / "ws2", "--device", "cpu",
                       "-q")
    out["run"] = run("run", tmp / "toy.yaml", "-w", tmp / "ws", "--device", "cpu", "-q")
    out["json"] = run("report", "-w", tmp / "ws", "-f", "json")
    out["table"] = run("report", "-w", tmp / "ws", "--wide")
    print("RESULT " + json.dumps(out))
    """
)

PRESET = """
description: a toy dataset and a toy defense, registered by a test
train:
  datasets: [toy]
  acts: [none]
  temps: [1]
  defenses: [none, smooth]
  defense_params: {smoothing: 0.2}
attack:
  n_samples: 30
  attacks:
    - method: fgsm
      eps: [0.1]
"""


# Ids of runs stored before defenses and datasets were specs (tests/test_defenses.py): a new
# registration must leave them as they are.
KNOWN_IDS = ["digits-none-T1-665a18fd", "digits-none-T1-pgd-at-25792854"]


def test_a_toy_dataset_and_defense_are_one_registration_each(tmp_path):
    (tmp_path / "toy.yaml").write_text(PRESET)
    (tmp_path / "bad.yaml").write_text(PRESET.replace("smoothing: 0.2", "smoothing: 2"))
    (tmp_path / "data" / "toy").mkdir(parents=True)  # doctor: the folder, not the file
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line is not None, done.stderr[-3000:]
    out = json.loads(line[7:])

    help_text = " ".join(out["help"]["stdout"].split())
    assert "toy: three brightness classes of random 8x8 images" in help_text
    assert "smooth: label smoothing (a test's toy defense) (parameters: smoothing)" in help_text
    assert "toy 2" in help_text and "toy 0.05" in help_text  # its epochs and training eps

    doctor = json.loads(out["doctor"]["stdout"])["data"]
    assert doctor["present"]["toy"] is False
    assert doctor["missing_files"]["toy"] == ["toy/toy.marker"]

    bad = out["bad_param"]
    assert bad["code"] == 2 and "--defense-param smoothing must be <= 1, got 2" in bad["stderr"]

    # the defense's parameters enter the config hash, resolved (a default given or not is one id)
    ids = out["ids"]
    assert ids["after"] == ids["before"] and ids["before"][:2] == KNOWN_IDS, ids
    smooth = ids["smooth"]
    assert smooth["default"] == smooth["0.1"] and smooth["0.2"] != smooth["0.1"] != smooth["0.3"]
    assert all(i.startswith("toy-none-T1-smooth-") for i in smooth.values()), smooth
    assert ids["payload"]["defense"] == "smooth" and ids["payload"]["smoothing"] == 0.3

    # a preset is checked against the defense's rules before anything runs
    bad = out["bad_preset"]
    assert bad["code"] == 2 and "smoothing" in bad["stderr"] and "<= 1" in bad["stderr"], bad
    assert not list((tmp_path / "ws3").glob("runs/*")), "nothing is trained from a bad preset"

    # `train` trains with them, under the id the config gives, with the parameter recorded
    assert out["train"]["code"] == 0, out["train"]["stderr"][-2000:]
    stored = json.loads((tmp_path / "ws2" / "runs" / smooth["0.3"] / "run.json").read_text())
    assert stored["config"]["defense"] == "smooth"
    assert stored["config"]["defense_params"] == {"smoothing": 0.3}

    assert out["run"]["code"] == 0, out["run"]["stderr"][-2000:]
    doc = json.loads(out["json"]["stdout"])
    rows = {(r["dataset"], r["defense"]) for r in doc["records"]}
    assert rows == {("toy", "none"), ("toy", "smooth")}, rows
    defended = next(r for r in doc["records"] if r["defense"] == "smooth")
    assert defended["run_id"] == smooth["0.2"]
    # the undefended toy run has the id a config without any defense field gives
    assert next(r for r in doc["records"] if r["defense"] == "none")["run_id"] == ids["before"][2]
    assert defended["defense_config"] == {"defense": "smooth", "smoothing": 0.2}
    table = out["table"]["stdout"]
    assert "toy" in table and "smooth" in table and "fgsm" in table
