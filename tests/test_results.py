import numpy as np
import pytest

from mcpt.errors import InputError
from mcpt.scene.results import ResultsWriter, Rows, merge_results, read_rows, write_rows


def _rows(n=5, camera=1, frame0=0):
    rng = np.random.default_rng(0)
    return Rows(
        np.full(n, camera, np.int64),
        np.arange(n, dtype=np.int64) + 1,
        np.arange(n, dtype=np.int64) + frame0,
        np.round(rng.uniform(0, 500, (n, 4))),
        np.round(rng.uniform(-10, 10, (n, 2)), 3),
    )


def test_round_trip(tmp_path):
    rows = _rows()
    write_rows(tmp_path / "r.txt", rows)
    back = read_rows(tmp_path / "r.txt")
    np.testing.assert_array_equal(back.to_array(), rows.to_array())


def test_one_based_input_is_converted(tmp_path):
    rows = _rows(frame0=1)
    (tmp_path / "r.txt").write_text("".join(" ".join(str(v) for v in r) + "\n" for r in rows.to_array().tolist()))
    back = read_rows(tmp_path / "r.txt", frame_base=1)
    np.testing.assert_array_equal(back.frame, rows.frame - 1)
    with pytest.raises(InputError, match="frame-base"):
        # frame 0 in a file declared 1-based would become -1
        write_rows(tmp_path / "z.txt", _rows(frame0=0))
        read_rows(tmp_path / "z.txt", frame_base=1)


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("1 2 3 4 5 6 7 8", "expected 9 columns"),
        ("1 2 3 4 5 6 7 8 9 10", "expected 9 columns"),
        ("1 2 3 4 five 6 7 8 9", "[ymin]: expected a number, got 'five'"),
        ("1 2.5 3 4 5 6 7 8 9", "[obj_id]: expected an integer, got 2.5"),  # a plain number, not a numpy repr
        ("1 2 3 4 5 6 -7 8 9", "non-negative box size"),
        ("1 2 3 4 5 6 7 nan 9", "finite world"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, line, needle):
    path = tmp_path / "results.txt"
    path.write_text("1 1 0 10 10 5 5 0.5 0.5\n\n" + line + "\n")
    with pytest.raises(InputError) as e:
        read_rows(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}:3")
    assert needle in msg


def test_writer_flushes_each_frame_and_renames_atomically(tmp_path):
    out = tmp_path / "scene_001.txt"
    w = ResultsWriter(out)
    w.write(_rows(3))
    # readable before close: a crash now keeps the rows written so far
    assert len(read_rows(w.partial)) == 3
    assert not out.exists()
    w.write(_rows(2, frame0=10))
    w.close()
    assert not w.partial.exists()
    assert len(read_rows(out)) == 5


def test_writer_keeps_partial_file_on_error(tmp_path):
    out = tmp_path / "scene_001.txt"
    with pytest.raises(RuntimeError), ResultsWriter(out) as w:
        w.write(_rows(4))
        raise RuntimeError("crash")
    assert not out.exists()
    assert len(read_rows(out.with_name("scene_001.txt.partial"))) == 4


def test_merge_concatenates_and_checks(tmp_path):
    write_rows(tmp_path / "scene_001.txt", _rows(3, camera=1))
    write_rows(tmp_path / "scene_002.txt", _rows(4, camera=2))
    out, n = merge_results(tmp_path)
    assert n == 7 and out.name == "track1_submission.txt"
    assert sorted(set(read_rows(out).camera.tolist())) == [1, 2]


def test_merge_rejects_bad_row_and_shared_camera(tmp_path):
    write_rows(tmp_path / "scene_001.txt", _rows(3, camera=1))
    write_rows(tmp_path / "scene_002.txt", _rows(3, camera=1))
    with pytest.raises(InputError, match=r"camera 1 also appears in scene_001\.txt"):
        merge_results(tmp_path)
    (tmp_path / "scene_002.txt").write_text("2 1 0 1 1 1 1 0 x\n")
    with pytest.raises(InputError, match=r"scene_002.txt:1 \[yworld\]"):
        merge_results(tmp_path)


def test_merge_empty_folder(tmp_path):
    with pytest.raises(InputError, match="no scene_"):
        merge_results(tmp_path)
