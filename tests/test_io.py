import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vts import io
from vts.io import (
    AudioError,
    LockError,
    as_signal,
    atomic_path,
    check_usable,
    folder_lock,
    load_audio,
    read_audio,
    run_in_workers,
    write_wav,
)


def test_load_mixes_down_and_resamples(tmp_path):
    sr = 44100
    t = np.arange(sr) / sr
    left, right = np.sin(2 * np.pi * 440 * t), np.zeros_like(t)
    sf.write(tmp_path / "s.aiff", np.stack([left, right], 1).astype(np.float32), sr, format="AIFF")
    audio = load_audio(tmp_path / "s.aiff", sample_rate=22050)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 22050) <= 1
    # mono mix-down halves the left channel; the 440 Hz peak survives resampling
    assert np.max(np.abs(audio)) == pytest.approx(0.5, abs=0.02)
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) * 22050 / len(audio) == pytest.approx(440, abs=2)


@pytest.mark.parametrize("content, message", [(b"", "empty"), (b"not audio at all" * 10, "cannot decode")])
def test_bad_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=message) as info:
        read_audio(path)
    assert "bad.wav" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no such audio file"):
        read_audio(tmp_path / "nope.wav")


def test_write_wav_normalises_without_clipping_and_leaves_no_temp(tmp_path):
    loud = np.sin(np.linspace(0, 100, 22050)).astype(np.float32) * 7.0
    out = write_wav(tmp_path / "o.wav", loud)
    back, sr = sf.read(out)
    assert sr == 22050 and np.max(np.abs(back)) == pytest.approx(0.95, abs=1e-3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.wav"]


def test_atomic_outputs_are_readable_by_others(tmp_path):
    import os
    import stat

    from vts.io import write_json

    old = os.umask(0o022)
    try:
        path = write_json(tmp_path / "x.json", {"a": 1})
    finally:
        os.umask(old)
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode & stat.S_IROTH, oct(mode)


# -- the one rule of usable audio ---------------------------------------------------------
@pytest.mark.parametrize("audio, reason", [
    (np.zeros(0, np.float32), "empty"),
    (np.full(22050, np.nan, np.float32), "non-finite"),
    (np.full(22050, 1e-6, np.float32), "silent (peak 1.0e-06 < 1e-04)"),
    (np.full(220, 0.5, np.float32), "too short (0.010 s < 0.15 s)"),
])
def test_check_usable_names_the_file_and_the_reason(audio, reason):
    with pytest.raises(AudioError) as info:
        check_usable(audio, 22050, "some/file.wav")
    assert str(info.value).startswith("some/file.wav: ") and reason in str(info.value)
    assert reason in info.value.reason and "some/file.wav" not in info.value.reason
    ok = np.full(22050, 0.5, np.float32)
    assert check_usable(ok, 22050, "f.wav") is ok


def test_files_must_be_usable_audio_arrays_need_not(tmp_path):
    """as_signal (behind TimbreSpace.encode_audio) applies the rule to files only."""
    short = tmp_path / "short.wav"
    sf.write(short, np.full(220, 0.5, np.float32), 22050)
    with pytest.raises(AudioError, match="short.wav: too short"):
        as_signal(short)
    with pytest.raises(AudioError, match="too short"):
        load_audio(short, check=True)
    assert len(load_audio(short)) == 220                   # plain loading still reads it
    assert len(as_signal(np.full(220, 0.5, np.float32))) == 220


def test_non_audio_mp3_is_one_clear_line(tmp_path, capfd):
    """No libsndfile "(possibly a pipe?)", no mpg123 notes on the terminal."""
    bad = tmp_path / "fake.mp3"
    bad.write_bytes(b"\x00garbage" * 300)
    capfd.readouterr()
    with pytest.raises(AudioError) as info:
        read_audio(bad)
    message = str(info.value)
    assert message == (f"{bad}: cannot decode audio (not a sound file in a known format "
                       "(WAV, FLAC, AIFF, OGG, MP3), or a damaged one)")
    err = capfd.readouterr().err
    assert "Note:" not in err and "possibly a pipe" not in err, err
    print("still here", file=sys.stderr)     # stderr is restored afterwards
    assert "still here" in capfd.readouterr().err


# -- temporaries left by a crash ----------------------------------------------------------
def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporaries_of_killed_writers_are_removed(tmp_path):
    dead, alive = _dead_pid(), os.getppid()
    old = time.time() - io.STALE_TEMP_SECONDS - 5
    ancient = time.time() - io.STALE_UNTAGGED_SECONDS - 5
    files = {
        "dead-old": (f".x.wav.{dead}-abcdefgh.wav", old),          # removed
        "dead-other-name": (f".checkpoint.pt.{dead}-a1b2c3d4.pt", old),   # removed
        "dead-recent": (f".x.wav.{dead}-bcdefghi.wav", time.time()),      # kept: too recent
        "alive-old": (f".x.wav.{alive}-cdefghij.wav", old),                # kept: writer alive
        "untagged-ancient": (".x.wav.jrjwottm.wav", ancient),              # removed
        "untagged-recent": (".x.wav.krjwottm.wav", old),                   # kept: < 1 h
        "untagged-other": (".y.wav.jrjwottm.wav", ancient),                # kept: not x.wav's
        "user-hidden": (".settings", ancient),                             # kept: not ours
        "user-file": ("notes.txt", ancient),
    }
    for name, mtime in files.values():
        (tmp_path / name).write_text("x")
        os.utime(tmp_path / name, (mtime, mtime))
    with atomic_path(tmp_path / "x.wav") as tmp:
        assert tmp.name.startswith(f".x.wav.{os.getpid()}-") and tmp.suffix == ".wav"
        tmp.write_text("new")
    left = {p.name for p in tmp_path.iterdir()}
    gone = {"dead-old", "dead-other-name", "untagged-ancient"}
    for key, (name, _) in files.items():
        assert (name in left) == (key not in gone), key
    assert "x.wav" in left


def test_kill_9_during_a_write_leaves_a_temporary_the_next_write_removes(tmp_path):
    code = ("import sys, time; from vts.io import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n"
            "    tmp.write_text('half'); print(tmp, flush=True); time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "x.wav")],
                             stdout=subprocess.PIPE, text=True)
    leftover = Path(child.stdout.readline().strip())
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert leftover.exists() and not (tmp_path / "x.wav").exists()
    aged = time.time() - io.STALE_TEMP_SECONDS - 1
    os.utime(leftover, (aged, aged))
    write_wav(tmp_path / "x.wav", np.zeros(100, np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.wav"]


# -- one writer per folder ----------------------------------------------------------------
def test_folder_lock_refuses_a_second_writer_and_names_the_first(tmp_path):
    models = tmp_path / "models"
    code = ("import sys, time; from vts.io import folder_lock\n"
            "with folder_lock(sys.argv[1], 'vts train'):\n"
            "    print('locked', flush=True); time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(models)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockError) as info, folder_lock(models, "vts evaluate"):
            pass
        message = str(info.value)
        assert message.startswith(f"{models}/ is being written by another vts train "
                                  f"(pid {holder.pid}, started ")
        assert isinstance(info.value, RuntimeError)        # the CLI reports it cleanly
    finally:
        holder.kill()                                      # kill -9: the lock goes with it
        holder.wait()
    with folder_lock(models, "vts train") as lock:
        assert lock == models / ".lock"
        assert f'"pid": {os.getpid()}' in lock.read_text()
        with folder_lock(models, "vts train"):              # re-entrant in one process
            pass
    with folder_lock(models, "vts train"):                  # released on exit
        pass


def _record(tasks, jobs, ready=None):
    """run_in_workers(math.sqrt, ...): what was done, shown running, and raised."""
    done, shown, failures = [], [], []

    def failure(task, error):
        failures.append(task)
        return RuntimeError(f"task {task}: {error}")

    raised = None
    try:
        run_in_workers(math.sqrt, tasks, jobs, done=lambda t, r: done.append((t, r)),
                       failure=failure, ready=ready, show=lambda running: shown.append(running))
    except RuntimeError as error:
        raised = str(error)
    return done, shown, failures, raised


def test_run_in_workers_runs_every_task_in_worker_processes():
    done, shown, failures, raised = _record([4.0, 9.0, 16.0], jobs=2)
    assert sorted(done) == [(4.0, 2.0), (9.0, 3.0), (16.0, 4.0)]
    assert raised is None and not failures
    assert shown[0] == [4.0, 9.0] and max(len(r) for r in shown) == 2


def test_run_in_workers_starts_nothing_after_a_failure_and_lets_the_running_finish():
    # one worker: the failing task (sqrt(-1) raises) stops the one after it
    done, _, failures, raised = _record([4.0, -1.0, 9.0], jobs=1)
    assert done == [(4.0, 2.0)] and failures == [-1.0]
    assert raised == "task -1.0: math domain error"
    # two workers: the task started beside the failing one finishes
    done, _, failures, raised = _record([-1.0, 9.0, 16.0], jobs=2)
    assert done == [(9.0, 3.0)] and failures == [-1.0] and raised.startswith("task -1.0")


def test_run_in_workers_waits_until_a_task_is_ready():
    # 4 may start only once 16 has finished, although a worker is free
    done, shown, _, raised = _record([16.0, 4.0], jobs=2,
                                     ready=lambda task, unfinished: task != 4.0 or 16.0 not in unfinished)
    assert raised is None and [t for t, _ in done] == [16.0, 4.0]
    assert shown == [[16.0], [4.0]]
    _, _, _, raised = _record([4.0], jobs=2, ready=lambda task, unfinished: False)
    assert raised == "1 task(s) wait and none is ready to start"
