#!/usr/bin/env python3
"""A stack made from the guide's own files (tests/fixtures/guide): copies
them under ROOT, makes the certificates the guide makes (prosodyctl cert
generate, the openssl steps), runs `meetctl import --root ROOT`, and moves
the guide's standard ports to the free ones given (the machine's own may be
taken), with meet-web in plain-HTTP mode for the browser on localhost.
Nothing else in the imported files is touched.

Usage: guide-stack.py BIN FIXTURES ROOT DIST C2S COMPONENT HTTP FOCUS JVB_UDP JVB_HTTP WEB"""
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

bin_dir, fixtures, root, dist = (Path(a) for a in sys.argv[1:5])
c2s, component, http, focus, jvb_udp, jvb_http, web = sys.argv[5:12]
domain = "jitsi2.test.alt"

shutil.copytree(fixtures, root)
certs = root / "var/lib/prosody"
certs.mkdir(parents=True)
(root / "certgen.toml").write_text(f'data_path = "{certs}"\n[[virtual_host]]\nhost = "x"\n')
for host in (domain, f"auth.{domain}"):
    subprocess.run([bin_dir / "xmpp-server", "--config", root / "certgen.toml", "cert", "generate", host],
                   check=True, capture_output=True)
for ext in ("crt", "key"):
    shutil.copy(certs / f"{domain}.{ext}", root / f"etc/jitsi/meet/{domain}.{ext}")

out = root / "etc/meet-rs"
r = subprocess.run([bin_dir / "meetctl", "import", "--root", root, "--out", out,
                    "--data-dir", root / "var/lib/meet-rs", "--static-root", dist],
                   capture_output=True, text=True)
print(r.stdout, end="")
if r.returncode != 0:
    sys.exit(f"meetctl import failed: {r.stderr}")


def edit(name, pairs, section=None):
    """Sets `key = value` lines (in `section` when given), adding missing ones."""
    path = out / name
    text = path.read_text()
    for key, value in pairs:
        if section is None:
            pat = re.compile(rf"(?m)^{re.escape(key)} = .*$")
            if pat.search(text.split("\n[", 1)[0]):
                head, sep, rest = text.partition("\n[")
                text = pat.sub(f"{key} = {value}", head, count=1) + sep + rest
            else:
                text = f"{key} = {value}\n" + text
            continue
        header = f"[{section}]\n"
        if header not in text:
            text += f"\n{header}"
        start = text.index(header) + len(header)
        end = text.find("\n[", start)
        end = len(text) if end < 0 else end + 1
        body = text[start:end]
        pat = re.compile(rf"(?m)^{re.escape(key)} = .*$")
        body = pat.sub(f"{key} = {value}", body, count=1) if pat.search(body) else f"{key} = {value}\n" + body
        text = text[:start] + body + text[end:]
    path.write_text(text)
    tomllib.loads(text)  # still valid TOML


lo = '["127.0.0.1"]'
edit("xmpp-server.toml", [("c2s_ports", f"[{c2s}]"), ("c2s_interfaces", lo),
                          ("component_ports", f"[{component}]"), ("http_ports", f"[{http}]"),
                          ("http_interfaces", lo), ("consider_websocket_secure", "true")])
edit("focus.toml", [("host", '"127.0.0.1"'), ("port", component), ("c2s_port", c2s)], "jicofo")
edit("focus.toml", [("port", focus)], "http")
edit("videobridge.toml", [("websocket_base_url", f'"ws://localhost:{web}/colibri-ws"')], "videobridge")
edit("videobridge.toml", [("hostname", '"127.0.0.1"'), ("port", c2s)],
     'videobridge.apis.xmpp-client.configs."shard"')
edit("videobridge.toml", [("port", jvb_udp), ("bind_address", '"127.0.0.1"')], "videobridge.ice.udp")
# No network in tests: no public STUN server.
edit("videobridge.toml", [("local_addresses", lo), ("stun_mapping_harvester_addresses", "[]")],
     "videobridge.nat")
edit("videobridge.toml", [("port", jvb_http)], "videobridge.http")
edit("web.toml", [("plain_http", "true"), ("http_listen", f'["127.0.0.1:{web}"]')], "server")
edit("web.toml", [("xmpp_server", f'"http://127.0.0.1:{http}"'),
                  ("videobridge", f'"http://127.0.0.1:{jvb_http}"')], "proxy")
