"""Output files: atomic replace, no symlink followed, nothing but a regular file replaced, no
temporary left behind, concurrent writers each leave a whole file of their own."""
import os
import threading

import pytest

from pyprof_carbon.errors import UserError
from pyprof_carbon.safe_write import atomic_writer, check_output_path, write_file
from recording_mutations import cli
from synthetic import recording


def leftovers(directory):
    return [n for n in os.listdir(directory) if n.endswith(".tmp")]


def test_write_creates_and_replaces_a_regular_file(tmp_path):
    p = str(tmp_path / "out.txt")
    write_file(p, "first")
    write_file(p, b"second")
    assert open(p, "rb").read() == b"second"
    assert leftovers(tmp_path) == []


def test_symlink_at_the_target_is_refused_and_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    link = tmp_path / "report.html"
    link.symlink_to(victim)
    with pytest.raises(UserError, match="symbolic link"):
        write_file(str(link), "evil")
    assert victim.read_text() == "keep me" and os.path.islink(link)
    dangling = tmp_path / "dangling.html"
    dangling.symlink_to(tmp_path / "would_be_created")
    with pytest.raises(UserError, match="symbolic link"):
        write_file(str(dangling), "evil")
    assert not (tmp_path / "would_be_created").exists()
    assert leftovers(tmp_path) == []


def test_fifo_directory_and_device_are_refused(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="not a regular file"):
        write_file(str(fifo), "x")  # and it did not block opening the FIFO
    (tmp_path / "dir").mkdir()
    with pytest.raises(UserError, match="a directory"):
        write_file(str(tmp_path / "dir"), "x")
    with pytest.raises(UserError, match="not a regular file"):
        write_file("/dev/null", "x")
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")


def test_a_failure_mid_write_leaves_the_old_file_and_no_temporary(tmp_path):
    p = tmp_path / "r.pcarbon"
    p.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_writer(str(p)) as f:
            f.write(b"half")
            raise RuntimeError("disk on fire")
    assert p.read_bytes() == b"old" and leftovers(tmp_path) == []
    with pytest.raises(UserError, match="cannot write"):
        write_file(str(tmp_path / "missing_dir" / "x"), "x")


def test_concurrent_writers_each_leave_a_whole_file(tmp_path):
    p = str(tmp_path / "same.json")
    payloads = [bytes([65 + i]) * (300_000 + i) for i in range(8)]
    errors = []

    def writer(data):
        try:
            for _ in range(5):
                write_file(p, data)
        except Exception as e:  # noqa: BLE001 (collected and asserted below)
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(d,)) for d in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert open(p, "rb").read() in payloads  # one writer's complete file, not a mix
    assert leftovers(tmp_path) == []


def test_check_output_path(tmp_path):
    check_output_path(str(tmp_path / "new.pcarbon"))
    (tmp_path / "old.pcarbon").write_text("x")
    check_output_path(str(tmp_path / "old.pcarbon"))
    with pytest.raises(UserError, match="does not exist"):
        check_output_path(str(tmp_path / "nope" / "r.pcarbon"))
    (tmp_path / "link").symlink_to(tmp_path / "old.pcarbon")
    with pytest.raises(UserError, match="symbolic link"):
        check_output_path(str(tmp_path / "link"))
    with pytest.raises(UserError, match="not a regular file"):
        check_output_path("/dev/null")
    with pytest.raises(UserError, match="a directory"):
        check_output_path(str(tmp_path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to any directory")
def test_check_output_path_unwritable_directory(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(UserError, match="not writable"):
            check_output_path(str(ro / "r.pcarbon"))
    finally:
        ro.chmod(0o700)


def test_recording_save_refuses_a_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "r.pcarbon").symlink_to(victim)
    with pytest.raises(UserError, match="symbolic link"):
        recording(n_samples=50).save(str(tmp_path / "r.pcarbon"))
    assert victim.read_text() == "keep" and leftovers(tmp_path) == []


def test_report_html_does_not_follow_a_planted_symlink(tmp_path, rec_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    out = tmp_path / "out.html"
    out.symlink_to(victim)
    rc, _, err = cli(["report", rec_path, "--format", "html", "-o", str(out)])
    assert rc == 2 and err.count("\n") == 1 and "symbolic link" in err
    assert victim.read_text() == "keep"
    rc, _, err = cli(["diff", rec_path, rec_path, "--format", "html", "-o", str(out)])
    assert rc == 2 and "symbolic link" in err and victim.read_text() == "keep"


def test_report_several_formats_one_file_each_named_sensibly(tmp_path, rec_path):
    rc, _, err = cli(["report", rec_path, "--format", "html", "--format", "svg", "-o", str(tmp_path / "out.html")])
    assert rc == 0, err
    assert (tmp_path / "out.html").read_text().lstrip().lower().startswith("<!doctype html")
    assert "<svg" in (tmp_path / "out.svg").read_text()
    assert not (tmp_path / "out.html.html").exists() and not (tmp_path / "out.html.svg").exists()


def test_report_beside_a_recording_never_overwrites_it(tmp_path):
    p = str(tmp_path / "r.json")  # a recording with a report's extension
    recording(n_samples=200).save(p)
    rc, _, err = cli(["report", p, "--format", "json", "--format", "svg"])
    assert rc == 0, err
    assert cli(["report", p, "--format", "text"])[0] == 0  # still a recording
    assert (tmp_path / "r.json.json").exists() and (tmp_path / "r.svg").exists()
