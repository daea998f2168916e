#!/usr/bin/python3
"""MQTT over WebSocket (docs/tls-websocket.md): a [[listener]] with protocol = "websockets"
(any path; with tls_cert it is wss), and `GET /mqtt` on the HTTP port.

Clients: MQTT.js (Node, tests/js/node_modules/mqtt) over ws:// and wss://, mosquitto_sub on
plain TCP, curl for the upgrade, and WsClient, a raw WebSocket client defined here (its own
small framer over a socket) that sends exactly the frames a case needs: fragmented messages,
several packets in a frame, pings, text frames, unmasked frames, close frames, frames with
absurd lengths. After each abusive case the broker must still serve a normal client.

The MQTT.js cases are skipped when node or the mqtt package is missing. mosquitto is not a
reference here: the harness writes no WebSocket listener for it.
"""

import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, MOSQUITTO_PUB, TIMEOUT, BrokerTestCase, ConnectionClosed,  # noqa: E402
                     MosquittoSub, PacketStream, RawClient, SUBSCRIBE, connect_packet, http_request, run_tests,
                     skip_if_mosquitto, subscribe_packet, unique_id, unique_topic)
from test_tls import (PLAIN_LISTENER, SKIP_MOSQUITTO, doc_listeners, doc_script,  # noqa: E402
                      pki, run_shell, tls_listener)
import test_tls  # noqa: E402  (its tearDownModule removes the certificates)

JS_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "js"))
WS_LISTENER = {"bind": HOST, "port": 0, "protocol": "websockets"}
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# RFC 6455 1.3's example: this key is answered with this accept value.
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def tearDownModule():
    test_tls.tearDownModule()


def ws_frame(opcode, payload=b"", fin=True, mask=True, length=None):
    """One client frame; `length` overrides the length field (the payload is sent as given)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if mask else 0
    if n <= 125:
        head += bytes([mask_bit | n])
    elif n <= 0xFFFF:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def upgrade_request(path, key=SAMPLE_KEY, protocol="mqtt"):
    lines = ["GET %s HTTP/1.1" % path, "Host: %s" % HOST, "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: %s" % key,
             "Sec-WebSocket-Version: 13"]
    if protocol:
        lines.append("Sec-WebSocket-Protocol: %s" % protocol)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class WsClient(RawClient):
    """RawClient (harness) over WebSocket: MQTT bytes go out as masked binary frames and come
    back from the server's binary frames, so connect(), subscribe(), publish(),
    receive_publish() all work. Other frames the server sends are kept in self.frames as
    (fin, opcode, payload); a close frame also ends the stream (read_packet then fails,
    wait_closed returns) with its status code in self.close_code.

    `first_bytes` go out in the same write as the upgrade request."""

    def __init__(self, port, path="/mqtt", first_bytes=b"", timeout=TIMEOUT):
        super().__init__(port, timeout=timeout)
        self.wire = b""  # server bytes not yet taken apart into frames
        self.frames = []
        self.close_code = None
        self.send_raw(upgrade_request(path) + first_bytes)
        head = self._read_head(time.monotonic() + timeout)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise AssertionError("upgrade refused: %r" % head)
        want = base64.b64encode(hashlib.sha1(SAMPLE_KEY.encode() + WS_GUID).digest())
        assert b"Sec-WebSocket-Accept: " + want in head, head
        assert b"Sec-WebSocket-Protocol: mqtt\r\n" in head, head

    def _read_head(self, deadline):
        while b"\r\n\r\n" not in self.wire:
            self._recv(deadline)
        head, self.wire = self.wire.split(b"\r\n\r\n", 1)
        return head + b"\r\n"

    def _recv(self, deadline):
        """PacketStream._fill, into self.wire instead of the MQTT buffer."""
        self.buf, self.wire = self.wire, self.buf
        try:
            PacketStream._fill(self, deadline)
        finally:
            self.buf, self.wire = self.wire, self.buf

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, data):
        """MQTT bytes, in one masked binary frame."""
        self.send_raw(ws_frame(OP_BINARY, data))

    def read_frame(self, deadline):
        """The next frame from the server (which never masks), unmasked lengths only."""
        while True:
            if len(self.wire) >= 2:
                b0, b1 = self.wire[0], self.wire[1]
                assert not b1 & 0x80, "the server masked a frame: %r" % self.wire[:16]
                n, at = b1 & 0x7F, 2
                if n == 126 and len(self.wire) >= 4:
                    n, at = struct.unpack("!H", self.wire[2:4])[0], 4
                elif n == 127 and len(self.wire) >= 10:
                    n, at = struct.unpack("!Q", self.wire[2:10])[0], 10
                if (b1 & 0x7F) < 126 or at > 2:
                    if len(self.wire) >= at + n:
                        payload, self.wire = self.wire[at:at + n], self.wire[at + n:]
                        return bool(b0 & 0x80), b0 & 0x0F, payload
            self._recv(deadline)

    def _fill(self, deadline):
        """PacketStream's hook: takes frames until a binary one adds MQTT bytes."""
        if self.eof:
            raise ConnectionClosed("closed")
        while True:
            fin, opcode, payload = self.read_frame(deadline)
            if opcode in (OP_BINARY, OP_CONT):
                self.buf += payload
                return
            self.frames.append((fin, opcode, payload))
            if opcode == OP_CLOSE:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                self.eof = True
                raise ConnectionClosed("close frame %s" % self.close_code)

    def expect_close(self, code, timeout=TIMEOUT):
        """Reads until the server's close frame, asserts its code, then waits for the TCP close."""
        try:
            self.wait_closed(timeout)
        except AssertionError:
            raise AssertionError("no close frame within %.1f s (frames %r)"
                                 % (timeout, self.frames)) from None
        if self.close_code != code:
            raise AssertionError("close code %s, expected %s" % (self.close_code, code))
        deadline = time.monotonic() + timeout
        self.eof = False  # the close frame ended the MQTT stream; now the TCP connection
        try:
            while True:
                self._recv(deadline)
        except ConnectionClosed:
            return
        except TimeoutError:
            raise AssertionError("TCP connection still open %.1f s after the close frame"
                                 % timeout) from None


class WebSocketTestCase(BrokerTestCase):
    """Listener 0: WebSocket; 1: WebSocket over TLS; 2: plain TCP; 3: MQTT over TLS; and the
    HTTP port's /mqtt."""

    broker_config = {"listener": [WS_LISTENER, tls_listener(protocol="websockets"),
                                  PLAIN_LISTENER, tls_listener()]}

    def ws(self, port=None, path="/mqtt", **kwargs):
        c = WsClient(port or self.broker.ports[0], path, **kwargs)
        self.addCleanup(c.close)
        return c

    def assert_serves_ws_client(self, port=None, path="/mqtt"):
        """A fresh WebSocket client connects, subscribes and gets its QoS 1 message back."""
        c = self.ws(port, path)
        c.connect()
        topic = unique_topic("alive")
        self.assertEqual(c.subscribe([(topic, 1)]), [1])
        c.publish(topic, b"still serving", qos=1)
        self.assertEqual(c.receive_publish()[:3], (topic, b"still serving", 1))
        c.disconnect()


# --------------------------------------------------------------------------------------------

class RawWebSocketCases:
    """The raw-frame cases, run on a websockets listener and on the HTTP port's /mqtt
    (subclasses set ws_port() and path)."""

    path = "/mqtt"

    def ws_port(self):
        raise NotImplementedError

    def client(self, **kwargs):
        return self.ws(self.ws_port(), self.path, **kwargs)

    def serves(self):
        self.assert_serves_ws_client(self.ws_port(), self.path)

    def test_connect_split_across_three_frames(self):
        c = self.client()
        packet = connect_packet(unique_id("frag"))
        thirds = [packet[:3], packet[3:9], packet[9:]]
        c.send_raw(ws_frame(OP_BINARY, thirds[0], fin=False) +
                   ws_frame(OP_CONT, thirds[1], fin=False))
        c.send_raw(ws_frame(OP_CONT, thirds[2], fin=True))
        self.assertEqual(c.read_bytes(4), b"\x20\x02\x00\x00")
        topic = unique_topic("frag")
        self.assertEqual(c.subscribe([(topic, 1)]), [1])

    def test_connect_and_subscribe_in_one_frame(self):
        c = self.client()
        topic = unique_topic("oneframe")
        c.send(connect_packet(unique_id("one")) + subscribe_packet(7, [(topic, 1)]))
        self.assertEqual(c.read_bytes(4), b"\x20\x02\x00\x00")
        suback = c.read_packet()
        self.assertEqual(suback.raw, b"\x90\x03\x00\x07\x01")
        c.publish(topic, b"echo", qos=1)
        self.assertEqual(c.receive_publish()[:2], (topic, b"echo"))

    def test_the_broker_names_the_client_by_its_address(self):
        # mqtt_clients.address: the client's end of the TCP connection, also when the HTTP
        # server handed the socket over.
        c = self.client()
        client_id = unique_id("addr")
        c.connect(client_id)
        status, _, body = http_request(self.broker.http_url("/db/query?" + urllib.parse.urlencode(
            {"q": "SELECT address FROM mqtt_clients WHERE client_id = '%s'" % client_id})))
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["data"]["rows"], [["127.0.0.1:%d" % c.sock.getsockname()[1]]], body)

    def test_upgrade_and_connect_in_one_write(self):
        # The request and the first frame arrive together: the bytes past the request head
        # must reach MQTT (on the HTTP port, the router read them before it handed over).
        c = self.client(first_bytes=ws_frame(OP_BINARY, connect_packet(unique_id("early"))),
                        timeout=2)
        self.assertEqual(c.read_bytes(4, timeout=2), b"\x20\x02\x00\x00")

    def test_ping_gets_a_pong_with_its_payload(self):
        c = self.client()
        c.connect()
        c.send_raw(ws_frame(OP_PING, b"are you there"))
        c.send_raw(ws_frame(OP_PONG, b"unsolicited"))  # ignored
        c.send(b"\xc0\x00")  # MQTT PINGREQ after it: the pong comes first
        self.assertEqual(c.read_packet().raw, b"\xd0\x00")
        self.assertEqual(c.frames, [(True, OP_PONG, b"are you there")])

    def test_text_frame_is_closed_with_1003(self):
        c = self.client()
        c.connect()
        c.send_raw(ws_frame(OP_TEXT, b"hello"))
        c.expect_close(1003)
        self.assertIn(": WebSocket: text frame (MQTT over WebSocket is carried in binary frames) "
                      "(closed with 1003)", self.broker.stderr_text())
        self.serves()

    def test_unmasked_frame_is_closed_with_1002(self):
        c = self.client()
        c.send_raw(ws_frame(OP_BINARY, connect_packet(unique_id("unmasked")), mask=False))
        c.expect_close(1002)
        self.serves()

    def test_close_frame_is_echoed(self):
        c = self.client()
        c.connect()
        c.send_raw(ws_frame(OP_CLOSE, struct.pack("!H", 4000) + b"bye"))
        c.expect_close(4000)
        self.serves()

    def test_frame_over_the_size_limit_is_closed_with_1009(self):
        c = self.client()
        c.connect()
        c.send_raw(ws_frame(OP_BINARY, b"\x30", length=1 << 40))
        c.expect_close(1009)
        self.serves()

    def test_64_bit_length_with_the_top_bit_set_is_closed_with_1002(self):
        c = self.client()
        c.send_raw(ws_frame(OP_BINARY, b"", length=1 << 63))
        c.expect_close(1002)
        self.serves()

    def test_continuation_without_a_message_is_closed_with_1002(self):
        c = self.client()
        c.send_raw(ws_frame(OP_CONT, b"\x10"))
        c.expect_close(1002)
        self.serves()

    def test_malformed_mqtt_inside_frames_closes_the_connection(self):
        c = self.client()
        c.connect()
        c.send(bytes([SUBSCRIBE << 4, 2, 0, 1]))  # SUBSCRIBE with reserved flags 0: malformed
        c.expect_close(1000)
        self.serves()


@SKIP_MOSQUITTO
class RawWebSocketOnListener(RawWebSocketCases, WebSocketTestCase):
    path = "/any/path"  # a websockets listener of its own accepts every path

    def ws_port(self):
        return self.broker.ports[0]


@SKIP_MOSQUITTO
class RawWebSocketOnHttpPort(RawWebSocketCases, WebSocketTestCase):

    def ws_port(self):
        return self.broker.http_port

    def test_other_paths_are_not_upgraded(self):
        raw = RawClient(self.ws_port())
        self.addCleanup(raw.close)
        raw.send(upgrade_request("/not-mqtt"))
        self.assertEqual(raw.read_bytes(len(b"HTTP/1.1 404 ")), b"HTTP/1.1 404 ")
        self.serves()


@skip_if_mosquitto("the HTTP port is mqbase's")
class HttpPortAnonymousPolicy(WebSocketTestCase):
    """http.allow_anonymous decides MQTT over WebSocket on the HTTP port as it decides the
    HTTP API: off, a CONNECT without credentials is refused even on loopback."""

    broker_config = {"listener": [WS_LISTENER], "http": {"allow_anonymous": False}}

    def test_anonymous_refused_on_the_http_port_only(self):
        c = self.ws(self.broker.http_port)
        c.send(connect_packet(unique_id("anon")))
        self.assertEqual(c.read_bytes(4), b"\x20\x02\x00\x05")  # 3.1.1: not authorized
        # The websockets listener on loopback keeps its own default: anonymous allowed.
        self.assert_serves_ws_client(self.broker.ports[0])


# --------------------------------------------------------------------------------------------

def curl_upgrade(url, key=SAMPLE_KEY, version="13"):
    """curl's view of an upgrade request: the response head and body it printed (-i)."""
    cmd = ["curl", "-i", "-sS", "--max-time", "2", "-H", "Connection: Upgrade",
           "-H", "Upgrade: websocket", "-H", "Sec-WebSocket-Version: %s" % version,
           "-H", "Sec-WebSocket-Protocol: mqtt"]
    if key:
        cmd += ["-H", "Sec-WebSocket-Key: %s" % key]
    r = subprocess.run(cmd + [url], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    return r.stdout.decode("latin-1")


@SKIP_MOSQUITTO
class CurlUpgrade(WebSocketTestCase):
    # After a 101 nothing comes from curl: the connect timeout ends it before --max-time.
    broker_config = dict(WebSocketTestCase.broker_config, limits={"connect_timeout": 1})

    def urls(self):
        return [self.broker.http_url("/mqtt"),
                "http://%s:%d/mqtt" % (HOST, self.broker.ports[0])]

    def test_upgrade_answered_101_with_the_rfc_accept_value(self):
        for url in self.urls():
            with self.subTest(url=url):
                out = curl_upgrade(url)
                self.assertTrue(out.startswith("HTTP/1.1 101 Switching Protocols\r\n"), out)
                self.assertIn("\r\nSec-WebSocket-Accept: %s\r\n" % SAMPLE_ACCEPT, out)
                self.assertIn("\r\nSec-WebSocket-Protocol: mqtt\r\n", out)
        self.assert_serves_ws_client()

    def test_missing_key_is_400_with_a_reason(self):
        for url in self.urls():
            with self.subTest(url=url):
                out = curl_upgrade(url, key=None)
                self.assertTrue(out.startswith("HTTP/1.1 400 "), out)
                self.assertIn("Sec-WebSocket-Key is missing", out)
        self.assert_serves_ws_client()

    def test_version_8_is_426_naming_version_13(self):
        for url in self.urls():
            with self.subTest(url=url):
                out = curl_upgrade(url, version="8")
                self.assertTrue(out.startswith("HTTP/1.1 426 "), out)
                self.assertIn("\r\nSec-WebSocket-Version: 13\r\n", out)
        self.assert_serves_ws_client()


# --------------------------------------------------------------------------------------------
# MQTT.js

# Modes (one JSON argument):
#   burst:    a subscriber at subQos, then a publisher that issues `count` QoS pubQos publishes
#             at once (payloads 1..count); prints {"granted", "published", "received",
#             "in_order", "errors"} once every message arrived or `wait` seconds passed.
#   exchange: subscribes to <topic>/to-ws, prints "subscribed", answers the first message on
#             <topic>/to-tcp with "ws got <payload>", prints {"received", "errors"}.
MQTTJS_SCRIPT = r"""
'use strict'
const fs = require('fs')
const mqtt = require('mqtt')
const o = JSON.parse(process.argv[1])
const errors = []
function finish(result) {
  process.stdout.write(JSON.stringify({ ...result, errors }) + '\n')
  process.exit(0)
}
setTimeout(() => { errors.push(`no result within ${o.wait} s`); finish({}) }, o.wait * 1000)
function connect(role) {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(o.url, {
      protocolVersion: o.protocol, clientId: `ws-${role}-${process.pid}`, reconnectPeriod: 0,
      connectTimeout: 10000, ...(o.ca ? { ca: fs.readFileSync(o.ca) } : {}),
    })
    client.once('connect', () => resolve(client))
    client.on('error', (err) => { errors.push(`${role}: ${err.message}`); reject(err) })
  })
}
async function burst() {
  const subscriber = await connect('sub')
  const seen = []
  let allSeen
  const complete = new Promise((resolve) => { allSeen = resolve })
  subscriber.on('message', (topic, payload) => {
    seen.push(Number(payload.toString()))
    if (seen.length >= o.count) allSeen()
  })
  const granted = await subscriber.subscribeAsync(o.topic, { qos: o.subQos })
  const publisher = await connect('pub')
  const sent = []
  for (let i = 1; i <= o.count; i++) sent.push(publisher.publishAsync(o.topic, String(i), { qos: o.pubQos }))
  await Promise.all(sent)
  await complete
  finish({ granted: granted.map((g) => g.qos), published: sent.length, received: seen.length,
           in_order: seen.every((v, i) => v === i + 1) })
}
async function exchange() {
  const client = await connect('x')
  client.on('message', async (topic, payload) => {
    await client.publishAsync(`${o.topic}/to-tcp`, `ws got ${payload}`, { qos: 1 })
    finish({ received: payload.toString() })
  })
  await client.subscribeAsync(`${o.topic}/to-ws`, { qos: 1 })
  process.stdout.write('subscribed\n')
}
(o.mode === 'burst' ? burst() : exchange()).catch((err) => { errors.push(err.message); finish({}) })
"""


def node_and_mqttjs():
    """node's path, or None with the reason when node or MQTT.js is missing."""
    node = shutil.which("node")
    if node is None:
        return None, "node is not on PATH (scripts/setup.sh installs it)"
    if not os.path.isfile(os.path.join(JS_DIR, "node_modules", "mqtt", "package.json")):
        return None, "MQTT.js is not installed in %s/node_modules (npm ci there)" % JS_DIR
    return node, None


NODE, NODE_MISSING = node_and_mqttjs()


@SKIP_MOSQUITTO
@unittest.skipIf(NODE is None, NODE_MISSING or "")
class MqttJsOverWebSocket(WebSocketTestCase):
    COUNT = 2000

    def node(self, args, wait=60):
        return subprocess.Popen([NODE, "-e", MQTTJS_SCRIPT, json.dumps(dict(args, wait=wait))],
                                cwd=JS_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def burst(self, url, protocol, sub_qos, ca=None):
        proc = self.node({"mode": "burst", "url": url, "protocol": protocol, "count": self.COUNT,
                          "pubQos": 1, "subQos": sub_qos, "topic": unique_topic("wsburst"),
                          "ca": ca})
        out, err = proc.communicate(timeout=120)
        lines = out.decode().strip().splitlines()
        self.assertTrue(lines, "node printed nothing: %s" % err.decode(errors="replace"))
        result = json.loads(lines[-1])
        self.assertEqual(result, {"granted": [sub_qos], "published": self.COUNT,
                                  "received": self.COUNT, "in_order": True, "errors": []})

    def bursts(self, url, runs, ca=None):
        """One burst per (MQTT protocol level, subscriber QoS) in runs: each way in gets both
        protocols and both subscriber QoS."""
        for protocol, sub_qos in runs:
            with self.subTest(protocol=protocol, sub_qos=sub_qos):
                self.burst(url, protocol, sub_qos, ca)

    def test_burst_over_ws_on_a_websockets_listener(self):
        self.bursts("ws://%s:%d/mqtt" % (HOST, self.broker.ports[0]), ((4, 1), (5, 2)))

    def test_burst_over_ws_on_the_http_port(self):
        self.bursts("ws://%s:%d/mqtt" % (HOST, self.broker.http_port), ((4, 2), (5, 1)))

    def test_burst_over_wss(self):
        self.bursts("wss://%s:%d/mqtt" % (HOST, self.broker.ports[1]), ((4, 2), (5, 1)),
                    ca=pki().path("ca.crt"))

    def test_burst_over_mqtts(self):
        # Not WebSocket, but MQTT.js's TLS client is the same with another URL scheme.
        self.bursts("mqtts://%s:%d" % (HOST, self.broker.ports[3]), ((5, 1),),
                    ca=pki().path("ca.crt"))

    def test_ws_client_and_tcp_client_exchange_messages(self):
        plain_port = self.broker.ports[2]
        for url, protocol in (("ws://%s:%d/mqtt" % (HOST, self.broker.ports[0]), 4),
                              ("ws://%s:%d/mqtt" % (HOST, self.broker.http_port), 5)):
            with self.subTest(url=url, protocol=protocol):
                topic = unique_topic("wsx")
                sub = MosquittoSub(plain_port, topic + "/to-tcp", qos=1)
                self.addCleanup(sub.close)
                sub.sync(self.paho(port=plain_port))
                proc = self.node({"mode": "exchange", "url": url, "protocol": protocol,
                                  "topic": topic}, wait=20)
                self.addCleanup(lambda p=proc: p.poll() is None and p.kill())
                line = proc.stdout.readline()
                if line != b"subscribed\n":
                    self.fail("node: %r %r" % (line + proc.stdout.read(), proc.stderr.read()))
                r = subprocess.run([MOSQUITTO_PUB, "-h", HOST, "-p", str(plain_port), "-q", "1",
                                    "-t", topic + "/to-ws", "-m", "tcp says hi"], timeout=30,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                self.assertEqual(r.returncode, 0, r.stderr)
                out, err = proc.communicate(timeout=30)
                self.assertEqual(json.loads(out), {"received": "tcp says hi", "errors": []}, err)
                self.assertEqual(sub.get().payload, b"ws got tcp says hi")
                sub.close()


# --------------------------------------------------------------------------------------------
# docs/tls-websocket.md: its examples, as they stand there

@SKIP_MOSQUITTO
class DocWebSocketExamples(BrokerTestCase):
    """The doc's websockets listeners (ws 9001, wss 9443, certificates from the test Pki)."""

    def setUp(self):
        self.broker_config = {"listener": doc_listeners("websocket-listeners", pki().dir)}
        super().setUp()
        self.doc_ports = {9001: self.broker.ports[0], 9443: self.broker.ports[1],
                          8080: self.broker.http_port}

    @unittest.skipIf(NODE is None, NODE_MISSING or "")
    def test_mqttjs_example_over_wss(self):
        script = doc_script("mqttjs", self.doc_ports)
        r = subprocess.run([NODE, "-e", script], cwd=pki().dir, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                           env=dict(os.environ, NODE_PATH=os.path.join(JS_DIR, "node_modules")))
        self.assertEqual((r.returncode, r.stdout), (0, b"sensors/temp 23.5\n"), r.stderr)

    def test_curl_upgrade_on_the_http_port(self):
        r = run_shell(doc_script("curl-upgrade", self.doc_ports), pki().dir)
        self.assertIn(r.returncode, (0, 28), r.stderr)  # 28: --max-time, as the doc says
        lines = r.stdout.splitlines()  # text mode: the \r\n are \n here
        self.assertEqual(lines[0], "HTTP/1.1 101 Switching Protocols", r.stdout)
        self.assertIn("Sec-WebSocket-Accept: %s" % SAMPLE_ACCEPT, lines)
        self.assertIn("Sec-WebSocket-Protocol: mqtt", lines)


if __name__ == "__main__":
    run_tests()
