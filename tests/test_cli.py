import subprocess
import sys

import pytest

from mcpt.cli import build_parser, main


def test_help_lists_every_command_with_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    parser = build_parser()
    names = parser._subparsers._group_actions[0].choices.keys()
    assert {"simulate", "eval", "merge"} <= set(names)
    for name in names:
        assert name in out


def test_every_command_has_help():
    parser = build_parser()
    for name in parser._subparsers._group_actions[0].choices:
        proc = subprocess.run([sys.executable, "-m", "mcpt", name, "--help"], capture_output=True, text=True)
        assert proc.returncode == 0, name
        assert "usage: mcpt " + name in proc.stdout
        example = proc.stdout.split("example:\n", 1)[1].splitlines()
        assert example and all(line.startswith("  mcpt " + name) for line in example), name
        # every example parses: the flags it uses exist (argparse exits 2 on an unknown one)
        for line in example:
            argv = line.split()[1:]
            parser.parse_args(argv)


def test_simulate_then_eval_end_to_end(tmp_path):
    out = tmp_path / "split"
    assert main(["simulate", str(out), "--cameras", "2", "--frames", "30", "--people", "3", "--scenes", "2", "-q"]) == 0
    assert (out / "scene_002" / "camera_0004" / "perception.npz").is_file()  # global camera numbering
    gt = out / "scene_001" / "ground_truth.txt"
    assert main(["eval", "--gt", str(gt), "--pred", str(gt), "--json", str(tmp_path / "e.json")]) == 0


def test_bad_input_exit_code_2_one_line(tmp_path):
    empty = tmp_path / "scene_009"
    empty.mkdir()
    proc = subprocess.run([sys.executable, "-m", "mcpt", "merge", str(empty)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "no scene_*.txt" in proc.stderr


def test_config_command_prints_the_effective_settings(capsys):
    import yaml

    assert main(["config", "--set", "association.tracker.confirm_s=0.4"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert data["association"]["tracker"]["confirm_s"] == 0.4
    assert data["association"]["refine"]["split_emb"] == 0.325
    assert main(["config", "--config", "reference"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["association"]["position"]["fuse"] is False
    # score thresholds: unset (null) unless resolved as `mcpt run` resolves them, from the detector
    from mcpt.models.manifest import detector_operating_points, load_manifest

    assert main(["config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["association"]["sct"]["track_high_thresh"] is None
    assert main(["config", "--detector-thresholds"]) == 0
    ops, _ = detector_operating_points(load_manifest())
    data = yaml.safe_load(capsys.readouterr().out)["association"]
    assert (
        data["sct"]["track_high_thresh"] == ops.track_high and data["clustering"]["min_score"] == ops.cluster_min_score
    )
