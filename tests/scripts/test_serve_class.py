"""scripts/serve_class.sh: N replicas behind nginx with sticky sessions and websockets
(issue 16, item 7). CI checks the configuration it writes; nginx itself is not needed (when it
is installed, ``nginx -t`` checks the file too)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "serve_class.sh"


def _config(*args: str, **env: str) -> str:
    out = subprocess.run(["bash", str(SCRIPT), "--print-config", *args], check=True,
                         capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items()
                              if not k.startswith("SSL_EXPLORER_")} | env)
    return out.stdout


def test_n_replicas_on_consecutive_ports_behind_a_sticky_hash():
    config = _config("3")
    servers = re.findall(r"server (127\.0\.0\.1:\d+)", config)
    assert servers == ["127.0.0.1:8601", "127.0.0.1:8602", "127.0.0.1:8603"]
    assert "hash $ssl_explorer_sticky consistent;" in config
    assert re.search(r'map \$cookie_ssl_explorer_replica \$ssl_explorer_sticky \{\s*""\s+'
                     r"\$request_id;\s*default \$cookie_ssl_explorer_replica;", config)
    assert "Set-Cookie \"ssl_explorer_replica=$ssl_explorer_sticky;" in config
    assert "listen 0.0.0.0:8600;" in config


def test_websockets_are_proxied():
    config = _config("2")
    for line in ("proxy_http_version 1.1;", "proxy_set_header Upgrade $http_upgrade;",
                 "proxy_set_header Connection $connection_upgrade;", "proxy_read_timeout 1d;"):
        assert line in config
    assert re.search(r"map \$http_upgrade \$connection_upgrade \{\s*default upgrade;", config)


def test_metrics_are_off_unless_asked_for():
    off = _config("1")
    assert re.search(r"location = /_stcore/metrics \{\s*return 404;", off)
    on = _config("1", SSL_EXPLORER_METRICS="1")
    assert not re.search(r"location = /_stcore/metrics \{\s*return 404;", on)


def test_other_machines_and_ports():
    config = _config(SSL_EXPLORER_UPSTREAMS="10.0.0.5:8601 10.0.0.6:8601",
                     SSL_EXPLORER_PORT="9000", SSL_EXPLORER_BIND="127.0.0.1")
    assert re.findall(r"server ([\d.]+:\d+)", config) == ["10.0.0.5:8601", "10.0.0.6:8601"]
    assert "listen 127.0.0.1:9000;" in config


def test_a_bad_count_is_refused():
    for bad in ("", "0", "two"):
        result = subprocess.run(["bash", str(SCRIPT), "--print-config", bad],
                                capture_output=True, text=True,
                                env={k: v for k, v in os.environ.items()
                                     if not k.startswith("SSL_EXPLORER_")})
        assert result.returncode == 2 and "usage" in result.stderr


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_accepts_the_configuration(tmp_path):
    (tmp_path / "run").mkdir()
    conf = tmp_path / "run" / "nginx.conf"
    conf.write_text(_config("2", SSL_EXPLORER_RUN_DIR=str(tmp_path / "run"),
                            SSL_EXPLORER_BIND="127.0.0.1", SSL_EXPLORER_PORT="18600"))
    result = subprocess.run(["nginx", "-t", "-c", str(conf), "-p", str(tmp_path / "run")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
