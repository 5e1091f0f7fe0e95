#!/usr/bin/env python3
"""Turns a `meetctl up --generate-only` state folder into the guide's secure
domain set-up (its last section): password accounts on DOMAIN, an anonymous
guest.DOMAIN for guests, the focus's auth_url, and anonymousdomain in
config.js. Usage: secure-stack.py STATE DOMAIN"""
import re
import sys
from pathlib import Path

state, domain = Path(sys.argv[1]), sys.argv[2]

xmpp = (state / "xmpp-server.toml").read_text()
blocks = re.split(r"(?m)^(?=\[\[)", xmpp)
out = []
for b in blocks:
    if b.startswith("[[virtual_host]]") and re.search(rf'(?m)^host = "{re.escape(domain)}"$', b):
        b = re.sub(r'(?m)^authentication = ".*"$', 'authentication = "internal_hashed"', b)
        ssl = re.search(r"(?m)^ssl = .*$", b)
        guest = (
            "[[virtual_host]]\n"
            f'host = "guest.{domain}"\n'
            'authentication = "anonymous"\n'
            + (ssl.group(0) + "\n" if ssl else "")
            + 'modules_enabled = ["bosh", "ping"]\n'
            "c2s_require_encryption = false\n\n"
        )
        out.append(b)
        out.append(guest)
        continue
    out.append(b)
(state / "xmpp-server.toml").write_text("".join(out))

focus = (state / "focus.toml").read_text()
if "auth_url" not in focus:
    focus = focus.replace("[jicofo]\n", f'[jicofo]\nauth_url = "XMPP:{domain}"\n', 1)
(state / "focus.toml").write_text(focus)

web = (state / "web.toml").read_text()
if "anonymousdomain" not in web:
    web = web.replace("[hosts]\n", f'[hosts]\nanonymousdomain = "guest.{domain}"\n', 1)
(state / "web.toml").write_text(web)
