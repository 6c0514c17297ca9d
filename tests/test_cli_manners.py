"""The command line explains itself: help and defaults everywhere, global flags anywhere,
warnings through logging, a progress bar on fit, provenance in `csgene info` (issue 18)."""

from __future__ import annotations

import argparse
import hashlib
import warnings

import h5py
import numpy as np
import pytest

from csgene import cli
from csgene.datasets import make_expression
from csgene.io import ExpressionData, write


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _parsers():
    root = cli.build_parser()
    return [("csgene", root)] + [(f"csgene {name}", sub) for name, sub in _subparsers(root).items()]


def test_every_option_of_every_subcommand_has_help_and_shows_its_default():
    missing_help, missing_default = [], []
    for name, parser in _parsers():
        assert parser.format_help()  # no formatting error (e.g. a stray % in a help text)
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            label = f"{name} {action.option_strings[0] if action.option_strings else action.dest}"
            if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                missing_help.append(label)
            shown = formatter._get_help_string(action) or ""
            has_default = not (action.default is None or action.default is False
                               or action.default == argparse.SUPPRESS or action.required)
            if action.option_strings and has_default and not isinstance(action, argparse._VersionAction) \
                    and "default" not in shown:
                missing_default.append(label)
    assert not missing_help, f"options without help: {missing_help}"
    assert not missing_default, f"options whose help does not show the default: {missing_default}"
    assert len(_parsers()) >= 8  # csgene and its seven subcommands were walked


def test_the_fit_help_shows_defaults_of_the_options_the_issue_named():
    fit = _subparsers(cli.build_parser())["fit"].format_help()
    for text in ("(default: 100)", "(default: gaussian)", "(default: 15)", "(default: inf)", "(default: 0)",
                 "dictionary size"):
        assert text in " ".join(fit.split()), text


@pytest.mark.parametrize("argv", [["--quiet", "info", "x"], ["info", "--quiet", "x"], ["info", "x", "-q"],
                                  ["-q", "-v", "info", "x"]])
def test_global_flags_go_before_or_after_the_subcommand(argv):
    args = cli.build_parser().parse_args(argv)
    assert args.quiet and args.command == "info" and args.file == "x"
    assert args.verbose == ("-v" in argv)


def test_global_flags_default_to_off_either_way():
    args = cli.build_parser().parse_args(["info", "x"])
    assert args.quiet is False and args.verbose is False


def _warn_then_succeed(args):
    warnings.warn("n_samples=3 is small", UserWarning)
    np.log(np.zeros(1))  # numpy's RuntimeWarning, raised from numpy's own source
    cli.log.warning("a csgene log warning")
    return 0


def test_warnings_are_logged_in_one_format_without_source_paths_and_quiet_silences_them(monkeypatch, capsys):
    monkeypatch.setattr(cli, "cmd_info", _warn_then_succeed)
    assert cli.main(["info", "whatever"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["csgene: warning: --samples 3 is small",
                   "csgene: warning: divide by zero encountered in log (RuntimeWarning)",
                   "csgene: warning: a csgene log warning"]
    assert cli.main(["--quiet", "info", "whatever"]) == 0
    assert capsys.readouterr().err == ""
    assert cli.main(["info", "whatever", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


@pytest.fixture(scope="module")
def counts_csv(tmp_path_factory):
    data = make_expression(n_samples=120, n_genes=50, n_modules=6, random_state=2)
    path = tmp_path_factory.mktemp("data") / "counts.csv"
    write(path, ExpressionData(X=data.counts, gene_names=np.asarray(data.gene_names),
                               sample_names=np.asarray(data.sample_names), source="test", layout="samples"))
    return path


def test_fit_shows_progress_bars_unless_quiet(tmp_path, counts_csv, capsys):
    args = ["fit", str(counts_csv), "--method", "smaf", "--measurements", "10", "--modules", "8",
            "--sparsity", "3", "--device", "cpu", "--out"]
    assert cli.main([*args, str(tmp_path / "a.h5")]) == 0
    err = capsys.readouterr().err
    assert "SMAF iterations" in err and "10/10" in err and "3/3" in err
    assert cli.main(["--quiet", *args, str(tmp_path / "b.h5")]) == 0
    assert capsys.readouterr().err == ""


def test_info_shows_version_and_provenance_and_old_models_still_load(tmp_path, counts_csv, capsys):
    from csgene import __version__
    from csgene.pipeline import CONTENT_HASH, CompressedSensing, _content_hash

    model = tmp_path / "m.h5"
    assert cli.main(["-q", "fit", str(counts_csv), "--method", "svd", "--measurements", "10", "--modules", "8",
                     "--samples", "100", "--seed", "3", "--out", str(model)]) == 0
    capsys.readouterr()
    assert cli.main(["info", str(model)]) == 0
    info = capsys.readouterr().out
    sha = hashlib.sha256(counts_csv.read_bytes()).hexdigest()
    assert f"written by csgene {__version__}" in info
    assert f"trained on: {counts_csv.resolve()}" in info
    assert f"sha256 {sha} (of the whole file)" in info
    assert "training size: 100 samples × 50 genes" in info
    assert "random subset: samples 100 (seed 3)" in info and "fitted at: 20" in info
    loaded = CompressedSensing.load(model)
    assert loaded.provenance_["data_sha256"] == sha and loaded.provenance_["n_train"] == 100

    # a model file written before provenance was recorded: loads, and info says it is missing
    with h5py.File(model, "r+") as fh:
        del fh.attrs["provenance"]
        fh.attrs[CONTENT_HASH] = _content_hash(fh)
    assert CompressedSensing.load(model).provenance_ == {}
    assert cli.main(["info", str(model)]) == 0
    assert "trained on: not recorded" in capsys.readouterr().out
