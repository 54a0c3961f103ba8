"""The evaluation stage: metrics by hand, training on real data, multilabel, weights that
load into the generated module and into `bmnas export`, resume, numeric guards, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import REPO, run_bmnas_here

from bmnas_dsl.backend.loader import import_generated
from bmnas_dsl.data.bank import FeatureBank, save_bank
from bmnas_dsl.nn import metrics
from bmnas_dsl.nn.numeric import NumericError, check_gradients, check_tensors
from bmnas_dsl.runs.layout import CHECKPOINT, LOG, METRICS, MODULE, WEIGHTS
from bmnas_dsl.search import runner
from bmnas_dsl.train.runner import (
    Trainer,
    TrainError,
    train_genotype,
)
from bmnas_dsl.train.settings import TrainSettings

MFEAT_GENOTYPE = """\
bmg 1

model mfeat_concat {
    dims C = 32, L = 8
    classes 10
    task multiclass
    dropout 0.1

    modality fou {
        conv3  : [64, 10]
        pooled : [64]
    }

    modality zer {
        conv3  : [64, 6]
        pooled : [64]
    }

    cell c1 (x = fou.conv3, y = zer.conv3) {
        s1 = ConcatFC(x, y)
        out = s1
    }

    output c1
}
"""

MULTILABEL_GENOTYPE = """\
bmg 1

model tags {
    dims C = 16, L = 2
    classes 3
    task multilabel
    dropout 0.0

    modality a {
        f : [8, 4]
    }

    modality b {
        g : [6]
    }

    cell c1 (x = a.f, y = b.g) {
        s1 = LinearGLU(x, y)
        out = s1
    }

    output c1
}
"""


def multilabel_bank(n: int = 400, seed: int = 0) -> FeatureBank:
    """Three tags, each readable from the features: tag 0 from a, tag 1 from b, tag 2 from
    a and b together (a test of fusion)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, 8, 4)).astype(np.float32)
    b = rng.standard_normal((n, 6)).astype(np.float32)
    labels = np.stack(
        [a[:, 0].mean(1) > 0, b[:, 0] > 0, (a[:, 1].mean(1) + b[:, 1]) > 0], axis=1
    ).astype(np.int64)
    split = np.array([0, 0, 0, 1, 2] * (n // 5), dtype=np.int8)
    return FeatureBank(
        features={"a.f": a, "b.g": b},
        labels=labels,
        split=split,
        task="multilabel",
        classes=3,
    )


def interrupted_training(monkeypatch, bank, settings, run_dir, epochs: int) -> None:
    """Train MFEAT_GENOTYPE into `run_dir` and stop it (Ctrl-C) after `epochs` epochs,
    their checkpoint written."""
    original = Trainer.run_epoch

    def interrupted(self, tick):
        if self.epoch == epochs:
            raise KeyboardInterrupt
        return original(self, tick)

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "run_epoch", interrupted)
        with pytest.raises(KeyboardInterrupt):
            train_genotype(MFEAT_GENOTYPE, bank, settings, run_dir, show_progress=False)


# -- metrics -------------------------------------------------------------------------


def test_accuracy_by_hand():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 0.5, 0.1], [0.3, 0.2, 0.9], [1, 0, 0]])
    assert metrics.accuracy(logits, np.array([0, 1, 1, 2])) == 0.5
    assert metrics.scores("multiclass", logits, np.array([0, 1, 2, 0])) == {
        "accuracy": 1.0
    }


def test_multilabel_f1_by_hand():
    truth = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
    predicted = np.array([[1, 0, 0, 0], [0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 1, 0]])
    logits = np.where(predicted == 1, 2.5, -1.5)
    # Class 0: TP 2, FP 0, FN 0 -> F1 1 (support 2). Class 1: TP 1, FN 1 -> 2/3
    # (support 2). Class 2: TP 0, FP 2, FN 1 -> 0 (support 1). Class 3: no true and no
    # predicted sample -> 0 (zero_division=0), support 0.
    assert metrics.weighted_f1(logits, truth) == pytest.approx((2 * 1 + 2 * 2 / 3) / 5)
    assert metrics.macro_f1(logits, truth) == pytest.approx((1 + 2 / 3) / 4)
    scores = metrics.scores("multilabel", logits, truth)
    assert list(scores) == ["weighted_f1", "macro_f1"]
    # The search's validation metric is the same weighted F1.
    assert runner.metric(
        "multilabel", torch.from_numpy(logits), torch.from_numpy(truth)
    ) == pytest.approx(scores["weighted_f1"])


def test_multilabel_f1_threshold_is_a_logit_of_zero():
    truth = np.array([[1], [0]])
    assert metrics.weighted_f1(np.array([[1e-6], [-1e-6]]), truth) == 1.0
    assert metrics.weighted_f1(np.array([[0.0], [0.0]]), truth) == 0.0
    assert metrics.weighted_f1(np.zeros((2, 1)), np.zeros((2, 1), dtype=int)) == 0.0


# -- training on real data -------------------------------------------------------------


@pytest.fixture(scope="module")
def mfeat_run(mfeat, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("train") / "run"
    result = train_genotype(
        MFEAT_GENOTYPE,
        mfeat,
        TrainSettings(epochs=6, seed=0, threads=1),
        run_dir,
        name="concat.bmg",
        data="mfeat",
        show_progress=False,
    )
    return run_dir, result


def test_training_on_mfeat_beats_chance_and_writes_the_run(mfeat_run):
    run_dir, result = mfeat_run
    assert result["task"] == "multiclass" and result["metric"] == "accuracy"
    assert result["test"]["accuracy"] > 0.6  # 10 balanced classes: chance is 0.10
    assert result["fit_on"] == "train+val"
    assert result["samples"] == {"fit": 1600, "test": 400}
    assert json.loads((run_dir / METRICS).read_text()) == result
    log = [json.loads(line) for line in (run_dir / LOG).read_text().splitlines()]
    assert [entry["epoch"] for entry in log] == list(range(1, 7))
    assert log[-1]["train_loss"] < log[0]["train_loss"]
    assert not any(key.startswith("val_") for key in log[0])  # test mode: no val


def test_parameter_count_equals_bmnas_info(mfeat_run, write):
    _, result = mfeat_run
    info = run_bmnas_here("info", "--json", str(write(MFEAT_GENOTYPE)))
    assert json.loads(info.stdout)["params"]["total"] == result["parameters"]


def test_model_py_is_what_bmnas_compile_writes(mfeat_run, write, tmp_path):
    run_dir, _ = mfeat_run
    out = tmp_path / "concat.py"
    source = write(MFEAT_GENOTYPE, "concat.bmg")
    assert run_bmnas_here("compile", str(source), "-o", str(out)).returncode == 0
    assert out.read_text() == (run_dir / MODULE).read_text()


def test_weights_load_into_the_generated_module(mfeat_run, mfeat):
    from safetensors.torch import load_file

    run_dir, result = mfeat_run
    module = import_generated((run_dir / MODULE).read_text())
    model = module.Model()
    model.load_state_dict(load_file(str(run_dir / WEIGHTS)))
    model.eval()
    test = mfeat.indices("test")
    inputs = [torch.from_numpy(mfeat.features[n][test]) for n, _ in module.INPUTS]
    with torch.no_grad():
        logits = model(*inputs).numpy()
    assert metrics.accuracy(logits, mfeat.labels[test]) == result["test"]["accuracy"]


def test_weights_export_to_onnx_with_the_same_predictions(
    mfeat_run, mfeat, write, tmp_path
):
    from safetensors.torch import load_file

    from bmnas_dsl.backend.runtime import create_session

    run_dir, result = mfeat_run
    onnx_path = tmp_path / "concat.onnx"
    exported = run_bmnas_here(
        "export",
        str(write(MFEAT_GENOTYPE)),
        "-o",
        str(onnx_path),
        "--weights",
        str(run_dir / WEIGHTS),
    )
    assert exported.returncode == 0, exported.stderr
    test = mfeat.indices("test")
    feeds = {n: mfeat.features[n][test] for n in ("fou.conv3", "zer.conv3")}
    session, _ = create_session(onnx_path, "cpu", threads=1)
    ort_logits = session.run(["logits"], feeds)[0]
    module = import_generated((run_dir / MODULE).read_text())
    model = module.Model()
    model.load_state_dict(load_file(str(run_dir / WEIGHTS)))
    model.eval()
    with torch.no_grad():
        torch_logits = model(*(torch.from_numpy(v) for v in feeds.values())).numpy()
    np.testing.assert_allclose(ort_logits, torch_logits, atol=1e-4)
    assert (ort_logits.argmax(1) == torch_logits.argmax(1)).all()
    assert (
        metrics.accuracy(ort_logits, mfeat.labels[test]) == result["test"]["accuracy"]
    )


def test_validation_holdout_never_scores_test(mfeat, tmp_path):
    result = train_genotype(
        MFEAT_GENOTYPE,
        mfeat,
        TrainSettings(epochs=2, threads=1, holdout="val"),
        tmp_path,
        show_progress=False,
    )
    assert "test" not in result and set(result["val"]) == {"accuracy"}
    assert result["samples"] == {"fit": 1200, "val": 400}
    log = [json.loads(line) for line in (tmp_path / LOG).read_text().splitlines()]
    assert [round(e["val_accuracy"], 6) for e in log][-1] == round(
        result["val"]["accuracy"], 6
    )


def test_multilabel_training_reports_weighted_and_macro_f1(tmp_path):
    bank = multilabel_bank()
    result = train_genotype(
        MULTILABEL_GENOTYPE,
        bank,
        TrainSettings(epochs=40, threads=1, lr=3e-3),
        tmp_path,
        show_progress=False,
    )
    assert result["metric"] == "weighted_f1"
    assert set(result["test"]) == {"weighted_f1", "macro_f1"}
    # Predicting no tag scores 0; the tags are learnable from the inputs.
    assert result["test"]["weighted_f1"] > 0.75
    # metrics.json agrees with the F1 recomputed from the saved weights.
    from safetensors.torch import load_file

    module = import_generated((tmp_path / MODULE).read_text())
    model = module.Model()
    model.load_state_dict(load_file(str(tmp_path / WEIGHTS)))
    model.eval()
    test = bank.indices("test")
    with torch.no_grad():
        logits = model(
            *(torch.from_numpy(bank.features[n][test]) for n in bank.features)
        )
    expected = metrics.scores("multilabel", logits.numpy(), bank.labels[test])
    assert result["test"] == pytest.approx(expected)


# -- resume and numeric guards ---------------------------------------------------------


def test_resume_after_an_interruption_gives_the_same_weights(
    mfeat, tmp_path, monkeypatch
):
    settings = TrainSettings(epochs=4, threads=1, seed=3)
    whole = train_genotype(
        MFEAT_GENOTYPE, mfeat, settings, tmp_path / "whole", show_progress=False
    )
    interrupted_training(monkeypatch, mfeat, settings, tmp_path / "cut", epochs=2)
    assert not (tmp_path / "cut" / METRICS).exists()
    again = train_genotype(
        MFEAT_GENOTYPE,
        mfeat,
        settings,
        tmp_path / "cut",
        resume=True,
        show_progress=False,
    )
    assert again["test"] == whole["test"]
    assert (tmp_path / "cut" / WEIGHTS).read_bytes() == (
        tmp_path / "whole" / WEIGHTS
    ).read_bytes()


def test_resume_refuses_another_genotype_or_other_settings(mfeat, tmp_path):
    settings = TrainSettings(epochs=1, threads=1)
    train_genotype(MFEAT_GENOTYPE, mfeat, settings, tmp_path, show_progress=False)
    other = MFEAT_GENOTYPE.replace("ConcatFC", "Sum")
    with pytest.raises(TrainError, match="other genotype"):
        train_genotype(other, mfeat, settings, tmp_path, resume=True)
    with pytest.raises(TrainError, match="other settings"):
        train_genotype(
            MFEAT_GENOTYPE, mfeat, TrainSettings(epochs=2), tmp_path, resume=True
        )


def test_a_nan_stops_training_and_keeps_the_last_good_checkpoint(
    mfeat, tmp_path, monkeypatch
):
    original = Trainer.run_epoch

    def poisoned(self, tick):
        if self.epoch == 2:  # epoch 3 starts with a NaN weight
            with torch.no_grad():
                self.named[0][1].view(-1)[0] = float("nan")
        return original(self, tick)

    monkeypatch.setattr(Trainer, "run_epoch", poisoned)
    with pytest.raises(NumericError) as caught:
        train_genotype(
            MFEAT_GENOTYPE,
            mfeat,
            TrainSettings(epochs=5, threads=1),
            tmp_path,
            show_progress=False,
        )
    message = str(caught.value)
    assert message.startswith("epoch 3, batch 1: the loss is nan")
    assert "last good checkpoint (epoch 2)" in message
    assert torch.load(tmp_path / CHECKPOINT, weights_only=True)["epoch"] == 2
    assert len((tmp_path / LOG).read_text().splitlines()) == 2
    assert not (tmp_path / WEIGHTS).exists() and not (tmp_path / METRICS).exists()


def test_a_nan_gradient_is_named():
    layer = torch.nn.Linear(2, 1)
    layer(torch.ones(1, 2)).sum().backward()
    check_gradients(layer.named_parameters(), "epoch 1, batch 1")  # finite: no error
    layer.bias.grad[0] = float("inf")
    with pytest.raises(NumericError, match="epoch 4, batch 2: the gradient of bias "):
        check_gradients(layer.named_parameters(), "epoch 4, batch 2")
    layer.bias.grad = None
    layer.weight.grad[0, 1] = float("nan")
    with pytest.raises(NumericError, match="gradient of weight contains NaN"):
        check_gradients(layer.named_parameters(), "x")
    with pytest.raises(NumericError, match="x: the weight w contains Inf"):
        check_tensors([("w", torch.tensor([1.0, -float("inf")]))], "x", "the weight")


def test_a_nan_architecture_gradient_stops_the_search(tmp_path, monkeypatch):
    from bmnas_dsl.data.planted import make_planted

    bank = make_planted(size=200)
    space = runner.space_for(bank, C=8, L=2, cells=1, steps=1)
    # Alpha gets gradients with the paper's selection (`sample` does not read it).
    training = runner.Training(epochs=3, batch_size=32, threads=1, selection="paper")
    original = runner.Search.run_epoch

    def poisoned(self, tick):
        if self.epoch == 1:  # the architecture gradients of epoch 2 are NaN
            self.model.alpha_x[0].register_hook(lambda grad: grad * float("nan"))
        return original(self, tick)

    monkeypatch.setattr(runner.Search, "run_epoch", poisoned)
    with pytest.raises(NumericError) as caught:
        runner.run_search(bank, space, training, "planted", tmp_path, "a.bmg")
    message = str(caught.value)
    assert message.startswith(
        "epoch 2, architecture step 1: the gradient of alpha_x.0 contains NaN"
    )
    assert "last good checkpoint (epoch 1)" in message
    assert torch.load(tmp_path / CHECKPOINT, weights_only=True)["epoch"] == 1


# -- the command line ------------------------------------------------------------------


def test_cli_train_writes_metrics_and_reports(write, tmp_path):
    out = tmp_path / "run"
    result = run_bmnas_here(
        "train",
        str(write(MFEAT_GENOTYPE)),
        "--data",
        "mfeat",
        "-o",
        str(out),
        "--epochs",
        "2",
        "--threads",
        "1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("test: accuracy ")
    assert "epoch 1/2  train loss" in result.stderr  # plain lines when not a terminal
    resumed = run_bmnas_here("train", "-o", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines()[0] == result.stdout.splitlines()[0]


def test_cli_train_divergence_is_a_clear_error(write, tmp_path):
    result = run_bmnas_here(
        "train",
        str(write(MFEAT_GENOTYPE)),
        "--data",
        "mfeat",
        "-o",
        str(tmp_path / "run"),
        "--lr",
        "1e30",
        "--threads",
        "1",
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("bmnas train: error: epoch 1, batch ")
    assert "the loss is nan" in line and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--epochs", "0"], "--epochs must be between 1"),
        (["--weight-decay", "-1"], "--weight-decay must be >= 0"),
        (["--threads", "-1"], "--threads must be between 1"),
        (["--seed", "99999999999999999999999"], "--seed must be between 0"),
        (["--data", "nope-such-data"], "nope-such-data"),
    ],
)
def test_cli_train_argument_errors(write, tmp_path, args, message):
    genotype = [str(write(MFEAT_GENOTYPE))]
    data = [] if "--data" in args else ["--data", "mfeat"]
    result = run_bmnas_here("train", *genotype, *data, *args, "-o", str(tmp_path / "r"))
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_cli_train_refuses_a_genotype_for_other_data(tmp_path):
    result = run_bmnas_here(
        "train", str(REPO / "examples" / "sum.bmg"), "--data", "mfeat", "-o", "r"
    )
    assert result.returncode == 1
    assert "feature 'video.layer4' of the genotype is not in the bank" in result.stderr


def test_cli_train_refuses_data_with_nan(write, tmp_path):
    bank = multilabel_bank(n=50)
    path = tmp_path / "bank.npz"
    save_bank(bank, path)
    with np.load(path, allow_pickle=False) as stored:
        arrays = dict(stored)
    arrays["a.f"][3, 0, 0] = np.nan
    np.savez(path, **arrays)
    result = run_bmnas_here(
        "train",
        str(write(MULTILABEL_GENOTYPE)),
        "--data",
        str(path),
        "-o",
        str(tmp_path / "run"),
    )
    assert result.returncode == 1
    assert "feature 'a.f' contains 1 NaN or Inf value(s)" in result.stderr
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_resume_of_an_edited_or_foreign_run_directory_is_a_clear_error(mfeat, tmp_path):
    settings = TrainSettings(epochs=1, threads=1)
    train = dict(data="mfeat", show_progress=False)
    train_genotype(MFEAT_GENOTYPE, mfeat, settings, tmp_path, **train)
    record = json.loads((tmp_path / "settings.json").read_text())
    record["settings"]["epochs"] = "5"
    (tmp_path / "settings.json").write_text(json.dumps(record))
    edited = run_bmnas_here("train", "-o", str(tmp_path), "--resume")
    assert edited.returncode == 1
    assert "--epochs must be an integer, not '5'" in edited.stderr
    # A checkpoint of another network (here: an empty state) cannot be resumed.
    train_genotype(MFEAT_GENOTYPE, mfeat, settings, tmp_path, **train)
    torch.save({"epoch": 1, "model": {}}, tmp_path / CHECKPOINT)
    foreign = run_bmnas_here("train", "-o", str(tmp_path), "--resume")
    assert foreign.returncode == 1
    assert "not a checkpoint of this run" in foreign.stderr
    assert "Traceback" not in foreign.stderr + edited.stderr


def test_resume_removes_what_a_kill_inside_a_write_left_behind(mfeat, tmp_path):
    settings = TrainSettings(epochs=1, threads=1)
    train_genotype(MFEAT_GENOTYPE, mfeat, settings, tmp_path, show_progress=False)
    leftover = tmp_path / ".checkpoint.pt.abc123.tmp"  # write_atomic's temporary name
    leftover.write_bytes(b"half a checkpoint")
    train_genotype(
        MFEAT_GENOTYPE, mfeat, settings, tmp_path, resume=True, show_progress=False
    )
    assert not leftover.exists()
