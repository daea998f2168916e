// The console's one MQTT connection: MQTT 5 over WebSocket at /mqtt on the page's own host,
// with the login's user and password in CONNECT. It subscribes to `#` (and `$SYS/#` when asked)
// with Retain As Published, so that a message's retain flag is the one it was published with,
// and keeps what arrives in a TopicStore (topics.js draws it). Opened when first needed and
// kept while the page is open, so the topic tree keeps its history across pages.
import mqtt from 'mqtt';

import { getCredentials, onCredentialsChange } from './api.js';

const RATE_WINDOW = 10; // seconds of the sliding window a topic's message rate is counted over
const PREVIEW = 2000;   // characters of a payload kept for display

// One topic's last message and its rate.
class TopicState {
  constructor(topic) {
    this.topic = topic;
    this.count = 0;
    this.buckets = new Uint32Array(RATE_WINDOW); // messages per second, a ring indexed by second
    this.bucketSecond = 0;                       // the second buckets[second % N] last counted
  }

  record(payload, packet, now) {
    this.count++;
    this.payload = payload;
    this.bytes = packet.payload.length;
    this.retain = packet.retain;
    this.qos = packet.qos;
    this.time = now;
    this.contentType = packet.properties && packet.properties.contentType;
    // The first message is what the topic was (often its retained message, sent on
    // subscribing): the rate counts the messages after it, over the time since it came.
    if (this.count === 1) {
      this.first = now;
      return;
    }
    this.advance(Math.floor(now / 1000));
    this.buckets[Math.floor(now / 1000) % RATE_WINDOW]++;
  }

  // Clears the buckets of the seconds between the last one counted and `second`.
  advance(second) {
    if (second <= this.bucketSecond) return;
    const gap = Math.min(second - this.bucketSecond, RATE_WINDOW);
    for (let i = 1; i <= gap; i++) this.buckets[(this.bucketSecond + i) % RATE_WINDOW] = 0;
    this.bucketSecond = second;
  }

  // Messages per second over the last RATE_WINDOW seconds, or over the time since the first
  // message while that is shorter (a busy topic does not look slow for its first seconds).
  rate(now) {
    this.advance(Math.floor(now / 1000));
    let n = 0;
    for (const b of this.buckets) n += b;
    return n / Math.max(1, Math.min(RATE_WINDOW, (now - this.first) / 1000));
  }
}

// Payload bytes as text when they are UTF-8, else as hex.
function payloadText(bytes) {
  try {
    const s = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return s.length > PREVIEW ? s.slice(0, PREVIEW) + '…' : s;
  } catch {
    const hex = Array.from(bytes.subarray(0, PREVIEW / 2), (b) => b.toString(16).padStart(2, '0')).join(' ');
    return `0x ${hex}${bytes.length > PREVIEW / 2 ? ' …' : ''}`;
  }
}

class Live {
  constructor() {
    this.topics = new Map();       // topic -> TopicState
    this.listeners = new Set();    // fn(TopicState) per message
    this.statusListeners = new Set();
    this.status = 'off';
    this.error = '';
    this.client = null;
    this.withSys = false;
    onCredentialsChange(() => {
      if (this.client) this.reconnect();
    });
  }

  url() {
    return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/mqtt`;
  }

  start() {
    if (this.client) return;
    const c = getCredentials();
    const options = {
      protocolVersion: 5,
      clientId: 'mqbase-console-' + Math.random().toString(16).slice(2, 10),
      clean: true,
      reconnectPeriod: 3000,
      connectTimeout: 10000,
      keepalive: 30,
    };
    if (c) {
      options.username = c.user;
      options.password = c.password;
    }
    this.setStatus('connecting');
    const client = mqtt.connect(this.url(), options);
    this.client = client;
    client.on('connect', () => {
      this.setStatus('connected');
      const filters = { '#': { qos: 0, rap: true } };
      if (this.withSys) filters['$SYS/#'] = { qos: 0, rap: true };
      client.subscribe(filters);
    });
    client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet));
    client.on('close', () => {
      if (this.client === client && this.status !== 'refused') this.setStatus('disconnected');
    });
    client.on('error', (err) => {
      // CONNACK 0x86 (bad user name or password) / 0x87 (not authorized): trying again with the
      // same credentials would only count as more failed logins.
      if (err && (err.code === 134 || err.code === 135 || err.code === 4 || err.code === 5)) {
        this.error = err.message;
        this.setStatus('refused');
        client.end(true);
      }
    });
  }

  reconnect() {
    this.stop();
    this.start();
  }

  stop() {
    if (this.client) {
      const c = this.client;
      this.client = null;
      c.end(true);
    }
    this.setStatus('off');
  }

  setSys(on) {
    this.withSys = on;
    if (!this.client || !this.client.connected) return;
    if (on) this.client.subscribe({ '$SYS/#': { qos: 0, rap: true } });
    else {
      this.client.unsubscribe('$SYS/#');
      for (const t of [...this.topics.keys()]) if (t.startsWith('$SYS/')) this.topics.delete(t);
    }
  }

  onMessage(topic, payload, packet) {
    let t = this.topics.get(topic);
    if (!t) {
      t = new TopicState(topic);
      this.topics.set(topic, t);
    }
    t.record(payloadText(payload), packet, Date.now());
    for (const fn of this.listeners) fn(t);
  }

  // Resolves once the broker acknowledged (QoS 1, 2) or the packet was sent (QoS 0).
  publish(topic, payload, qos, retain) {
    return new Promise((resolve, reject) => {
      if (!this.client || !this.client.connected) {
        reject(new Error('not connected to the broker'));
        return;
      }
      this.client.publish(topic, payload, { qos, retain }, (err, packet) => {
        if (err) reject(err);
        else if (packet && packet.reasonCode && packet.reasonCode >= 0x80) {
          reject(new Error(`refused by the broker (reason code 0x${packet.reasonCode.toString(16)})`));
        } else resolve();
      });
    });
  }

  onTopic(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onStatus(fn) {
    this.statusListeners.add(fn);
    fn(this.status, this.error);
    return () => this.statusListeners.delete(fn);
  }

  setStatus(s) {
    this.status = s;
    if (s !== 'refused') this.error = '';
    for (const fn of this.statusListeners) fn(s, this.error);
  }
}

export const live = new Live();
