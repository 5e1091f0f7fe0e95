#!/usr/bin/env python3
"""slixmpp as an XEP-0114 external component (what jicofo is to Prosody),
driven by tests/tests/interop_slixmpp.rs against a real meet-rs xmpp-server.

One scenario per run, chosen by argv[1] (or MODE):

  connect       handshake as COMPONENT_JID, then ping and disco#info the
                server's domain (SERVER_DOMAIN) from the component; report.
  wrong-secret  handshake with a wrong secret; report the stream error and
                that no session started.
  serve         handshake, print "READY", then answer what a client sends:
                disco#info and ping (slixmpp's XEP-0030/XEP-0199 plugins) and
                a focus <conference/> IQ (answered by this script, which then
                sends the client a message); finish when the client sends a
                message, reporting what was received.

Progress lines go to stdout as "READY" and "EVENT {json}", the outcome as one
"RESULT {json}" line (exit 0). A failure (timeout, exception, unexpected
outcome) prints the reason to stderr and exits 1; slixmpp's own debug log
(every stanza sent and received) is on stderr too.

Environment: COMPONENT_HOST (default 127.0.0.1), COMPONENT_PORT,
COMPONENT_JID (default focus.meet.test), COMPONENT_SECRET, SERVER_DOMAIN
(default meet.test), TIMEOUT (seconds, default 25).
"""

import asyncio
import json
import logging
import os
import sys

try:
    import slixmpp
    from slixmpp import ComponentXMPP
    from slixmpp.xmlstream import ET
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath
except ImportError as e:  # pragma: no cover - reported to the Rust test
    print(f"component_client FAILED: slixmpp is not importable ({e}); "
          "run `python3 -m pip install -r tests/python/requirements.txt`", file=sys.stderr)
    sys.exit(3)

FOCUS_NS = "http://jitsi.org/protocol/focus"
MODE = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MODE", "")
HOST = os.environ.get("COMPONENT_HOST", "127.0.0.1")
PORT = int(os.environ.get("COMPONENT_PORT", "0"))
JID = os.environ.get("COMPONENT_JID", "focus.meet.test")
SECRET = os.environ.get("COMPONENT_SECRET", "")
SERVER_DOMAIN = os.environ.get("SERVER_DOMAIN", "meet.test")
TIMEOUT = float(os.environ.get("TIMEOUT", "25"))
# Sent to the client in `serve`; characters that must survive escaping.
MESSAGE_BODY = "from slixmpp: <focus> & \"ready\" ünïcødé 🎉"
MESSAGE_FROM = f"conference-bot@{JID}/slixmpp"


def emit(prefix, payload=None):
    line = prefix if payload is None else f"{prefix} {json.dumps(payload, ensure_ascii=False)}"
    print(line, flush=True)


def fail(message):
    print(f"component_client FAILED (mode={MODE}): {message}", file=sys.stderr, flush=True)
    sys.stderr.flush()
    os._exit(1)


class Component(ComponentXMPP):
    def __init__(self, secret):
        super().__init__(JID, secret, HOST, PORT)
        self.done = asyncio.get_event_loop().create_future()
        self.session_started = False
        self.stream_errors = []
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("stream_error", self.on_stream_error)
        self.add_event_handler("disconnected", self.on_disconnected)
        self.add_event_handler("connection_failed", self.on_connection_failed)

    def finish(self, result=None, error=None):
        if not self.done.done():
            if error is not None:
                self.done.set_exception(RuntimeError(error))
            else:
                self.done.set_result(result)

    async def on_session_start(self, _event):
        self.session_started = True

    def on_stream_error(self, err):
        self.stream_errors.append({"condition": err["condition"], "text": err["text"]})

    def on_disconnected(self, reason):
        pass

    def on_connection_failed(self, reason):
        self.finish(error=f"connection to {HOST}:{PORT} failed: {reason}")


class ConnectScenario(Component):
    def __init__(self):
        super().__init__(SECRET)
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")

    async def on_session_start(self, event):
        await super().on_session_start(event)
        result = {"mode": MODE, "session_started": True, "jid": str(self.boundjid)}
        try:
            # What jicofo does right after connecting: talk to the XMPP domain.
            rtt = await self["xep_0199"].ping(jid=SERVER_DOMAIN, ifrom=JID, timeout=8)
            result["server_ping"] = "result"
            result["server_ping_rtt_ms"] = round(rtt * 1000, 1) if rtt is not None else None
        except Exception as e:  # noqa: BLE001 - reported as data
            result["server_ping"] = f"failed: {type(e).__name__}: {describe_iq_error(e)}"
        try:
            info = await self["xep_0030"].get_info(jid=SERVER_DOMAIN, ifrom=JID, timeout=8)
            q = info["disco_info"]
            result["server_features"] = sorted(q["features"])
            result["server_identities"] = [list(i) for i in q["identities"]]
        except Exception as e:  # noqa: BLE001
            result["server_features"] = f"failed: {type(e).__name__}: {describe_iq_error(e)}"
        self.finish(result)


class WrongSecretScenario(Component):
    def __init__(self):
        super().__init__(SECRET)

    async def on_session_start(self, event):
        await super().on_session_start(event)
        self.finish(error="the server accepted a wrong component secret (session started)")

    def on_disconnected(self, reason):
        # The server refused us and closed the stream.
        self.finish({
            "mode": MODE,
            "session_started": self.session_started,
            "stream_errors": self.stream_errors,
            "disconnected": True,
        })


class ServeScenario(Component):
    def __init__(self):
        super().__init__(SECRET)
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")
        disco = self["xep_0030"]
        disco.add_identity(category="component", itype="generic", name="slixmpp focus", jid=JID)
        disco.add_feature(FOCUS_NS, jid=JID)
        self.iqs = []
        self.register_handler(Callback(
            "focus conference",
            MatchXPath(f"{{{self.default_ns}}}iq/{{{FOCUS_NS}}}conference"),
            self.on_conference,
        ))
        self.add_event_handler("message", self.on_message)

    async def on_session_start(self, event):
        await super().on_session_start(event)
        emit("READY")

    def on_conference(self, iq):
        conf = iq.xml.find(f"{{{FOCUS_NS}}}conference")
        room = conf.get("room") if conf is not None else None
        record = {"from": str(iq["from"]), "to": str(iq["to"]), "id": iq["id"], "type": iq["type"], "room": room,
                  "machine_uid": conf.get("machine-uid") if conf is not None else None}
        self.iqs.append(record)
        emit("EVENT", {"conference_iq": record})
        if iq["type"] not in ("get", "set"):
            return
        reply = iq.reply(clear=True)
        reply.append(ET.Element(f"{{{FOCUS_NS}}}conference", {"ready": "true", "room": room or ""}))
        reply.send()
        # Then tell the client something, from another JID of our domain.
        self.send_message(mto=iq["from"], mfrom=MESSAGE_FROM, mbody=MESSAGE_BODY, mtype="chat")

    def on_message(self, msg):
        if not msg["body"]:
            return
        record = {"from": str(msg["from"]), "to": str(msg["to"]), "type": msg["type"], "body": msg["body"]}
        emit("EVENT", {"message": record})
        self.finish({
            "mode": MODE,
            "session_started": self.session_started,
            "conference_iqs": self.iqs,
            "message": record,
            "sent_body": MESSAGE_BODY,
            "sent_from": MESSAGE_FROM,
        })


def describe_iq_error(e):
    iq = getattr(e, "iq", None)
    if iq is not None:
        try:
            return f"{iq['error']['condition']} {iq['error']['text']}".strip()
        except Exception:  # noqa: BLE001
            return str(iq)
    return str(e)


SCENARIOS = {"connect": ConnectScenario, "wrong-secret": WrongSecretScenario, "serve": ServeScenario}


async def main():
    if MODE not in SCENARIOS:
        fail(f"unknown mode {MODE!r}; one of {', '.join(SCENARIOS)}")
    if not PORT:
        fail("COMPONENT_PORT is not set")
    xmpp = SCENARIOS[MODE]()
    xmpp.connect()
    try:
        result = await asyncio.wait_for(xmpp.done, TIMEOUT)
    except asyncio.TimeoutError:
        fail(f"scenario did not finish within {TIMEOUT} s (session_started={xmpp.session_started}, "
             f"stream_errors={xmpp.stream_errors})")
    except RuntimeError as e:
        fail(str(e))
    if xmpp.transport is not None:
        try:
            await asyncio.wait_for(xmpp.disconnect(wait=2), 5)
        except Exception as e:  # noqa: BLE001 - the result is already known
            logging.warning("disconnect: %s", e)
    emit("RESULT", result)


if __name__ == "__main__":
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("asyncio").setLevel(logging.WARNING)
    logging.debug("slixmpp %s", slixmpp.__version__)
    asyncio.run(main())
