"""gradtx on JAX's SPMD engine: the state follows sharded params, and results equal one device's.

JAX fixes its device count on import, and the test session has imported it with one device.
So the checks of `tests/sharding_checks.py` run in one child process with 8 simulated CPU
devices, in one test here that names each failing check. The example of docs/distributed.md
runs three times: on one device, on 8 local devices, and as 2 processes of 4 devices joined by
`jax.distributed`.
"""

import json
import os
import pathlib
import re
import socket
import subprocess
import sys

import pytest

from tests.sharding_checks import DEVICES, NAMES

ROOT = pathlib.Path(__file__).resolve().parent.parent
TIMEOUT = 600

# Known gaps in gradtx, each name mapped to its reason: these checks must fail (a fixed gap fails
# the test until its entry is deleted). None at present.
KNOWN_GAPS: dict[str, str] = {}


def _env(devices: int) -> dict[str, str]:
    """This environment for a child on `devices` CPU devices, with JAX's defaults (float32)."""
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_ENABLE_X64", "XLA_FLAGS")}
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


def test_known_gaps_are_names_of_checks():
    assert set(KNOWN_GAPS) <= set(NAMES)


def test_every_sharding_check_passes_but_the_known_gaps():
    # One test for the one child (a test per check would run the child once per xdist worker).
    env = {**_env(DEVICES), "JAX_NUMPY_DTYPE_PROMOTION": "strict"}
    result = subprocess.run(
        [sys.executable, "-m", "tests.sharding_checks"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    checks = json.loads(result.stdout.strip().splitlines()[-1])["checks"]
    assert set(checks) == set(NAMES)
    failures = {name: error for name, error in checks.items() if error is not None}
    unexpected = {name: error for name, error in failures.items() if name not in KNOWN_GAPS}
    assert not unexpected, "\n".join(f"{name}: {error}" for name, error in unexpected.items())
    assert set(failures) == set(KNOWN_GAPS), (
        f"fixed, delete from KNOWN_GAPS: {set(KNOWN_GAPS) - set(failures)}"
    )


# The example of docs/distributed.md.


def _example(tmp_path) -> pathlib.Path:
    text = (ROOT / "docs" / "distributed.md").read_text()
    script = tmp_path / "train.py"
    script.write_text(re.search(r"```python\n(# train\.py\n.*?)```", text, re.S).group(1))
    return script


def _losses(stdout: str) -> list[float]:
    """The losses printed at the first and last step."""
    losses = [float(v) for v in re.findall(r"^step \d+: loss (\S+)$", stdout, re.M)]
    assert len(losses) == 2, stdout
    return losses


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_distributed_example_gives_one_result_on_1_device_8_devices_and_2_processes(tmp_path):
    script = _example(tmp_path)
    runs = {}
    for label, devices in [("one device", 1), ("8 devices", 8)]:
        result = subprocess.run(
            [sys.executable, str(script)],
            env=_env(devices),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        runs[label] = _losses(result.stdout)

    address = f"localhost:{_free_port()}"
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), address, "2", str(rank)],
            env=_env(4),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=TIMEOUT) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    for p, (_, stderr) in zip(processes, outputs, strict=True):
        assert p.returncode == 0, stderr[-4000:]
    runs["2 processes of 4 devices"] = _losses(outputs[0][0])

    first, last = runs["one device"]
    assert last < first / 5, runs
    for losses in runs.values():
        assert losses == pytest.approx(runs["one device"], abs=2e-6), runs
