#!/usr/bin/env node
// A burst of QoS messages through the broker, sent and received with MQTT.js, the client most
// Node applications use. tests/integration/test_mqttjs.py runs it against a broker it started;
// it can be run by hand too:
//
//   node tests/js/burst.js --port 1883 --protocol 5 --count 2000 --pub-qos 1 --sub-qos 2
//
// A subscriber connects and subscribes (at --sub-qos), then a publisher connects and issues
// all --count publish() calls at once, as an application with a backlog does: MQTT.js writes
// them all to the socket without waiting for acknowledgements (it does not honour the
// server's Receive Maximum), so the broker sees the whole burst. Payloads are the sequence
// numbers 1..count. The script waits for every publish callback, then until the subscriber
// holds every sequence number or --wait seconds pass, and prints one JSON line:
//
//   {"published": acked, "received": messages, "distinct": n, "duplicates": d,
//    "duplicates_without_dup": d0, "in_order": bool, "reconnects": r, "errors": [...]}
//
// received counts every PUBLISH the subscriber got, duplicates the repeats among them, and
// duplicates_without_dup the repeats that came without the DUP flag. in_order says that the
// first copies arrived in sequence order. With --reconnect-after K the subscriber (which then
// connects with clean: false and, for MQTT 5, a Session Expiry Interval of 300 s) drops its
// TCP connection after its K-th message without a DISCONNECT, as a lost network does, and
// MQTT.js's own reconnect brings it back to its session.
//
// Exit status: 0 when the line was printed, 1 when a client could not connect (the line
// still says why), 2 on bad arguments. Everything is bounded by timeouts; nothing loops
// forever.
'use strict'

const mqtt = require('mqtt')

function parseArgs(argv) {
  const opts = {
    port: 1883,
    host: '127.0.0.1',
    protocol: 4,
    count: 1000,
    pubQos: 1,
    subQos: 1,
    topic: null,
    reconnectAfter: 0,
    wait: 30,
    ackTimeout: 60,
  }
  const names = {
    '--port': ['port', Number],
    '--host': ['host', String],
    '--protocol': ['protocol', Number],
    '--count': ['count', Number],
    '--pub-qos': ['pubQos', Number],
    '--sub-qos': ['subQos', Number],
    '--topic': ['topic', String],
    '--reconnect-after': ['reconnectAfter', Number],
    '--wait': ['wait', Number],
    '--ack-timeout': ['ackTimeout', Number],
  }
  for (let i = 0; i < argv.length; i++) {
    let name = argv[i]
    let value
    const eq = name.indexOf('=')
    if (eq > 0) {
      value = name.slice(eq + 1)
      name = name.slice(0, eq)
    } else {
      value = argv[++i]
    }
    const spec = names[name]
    if (!spec || value === undefined) usage(`unknown option or missing value: ${argv[i]}`)
    opts[spec[0]] = spec[1](value)
    if (spec[1] === Number && !Number.isFinite(opts[spec[0]])) usage(`${name} needs a number`)
  }
  if (opts.protocol !== 4 && opts.protocol !== 5) usage('--protocol must be 4 or 5')
  if (![0, 1, 2].includes(opts.pubQos) || ![0, 1, 2].includes(opts.subQos)) {
    usage('--pub-qos and --sub-qos must be 0, 1 or 2')
  }
  if (!(opts.count >= 1)) usage('--count must be at least 1')
  opts.topic = opts.topic || `mqttjs/burst/${process.pid}-${Date.now()}`
  return opts
}

function usage(message) {
  process.stderr.write(`burst.js: ${message}\n` +
    'usage: burst.js --port P [--protocol 4|5] [--count N] [--pub-qos Q] [--sub-qos Q]\n' +
    '                [--topic T] [--reconnect-after K] [--wait S] [--ack-timeout S]\n')
  process.exit(2)
}

const opts = parseArgs(process.argv.slice(2))
const errors = []
const clients = []

// Prints the result line once and ends the process with the given status.
let finished = false
function finish(status, result) {
  if (finished) return
  finished = true
  process.stdout.write(JSON.stringify({ ...result, errors }) + '\n')
  for (const c of clients) c.end(true)
  process.exit(status)
}

// Resolves with a connected client; a refusal or a connect timeout is a connect error.
function connect(role, extra) {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect({
      host: opts.host,
      port: opts.port,
      protocolVersion: opts.protocol,
      clientId: `mqttjs-${role}-${process.pid}`,
      connectTimeout: 10000,
      reconnectPeriod: 0,
      ...extra,
    })
    clients.push(client)
    let connected = false
    client.once('connect', () => {
      connected = true
      resolve(client)
    })
    client.on('error', (err) => {
      errors.push(`${role}: ${err.message}`)
      if (!connected) reject(new Error(`${role} could not connect: ${err.message}`))
    })
    client.on('disconnect', (packet) => {
      errors.push(`${role}: broker sent DISCONNECT, reason ${packet.reasonCode}`)
    })
    setTimeout(() => {
      if (!connected) reject(new Error(`${role}: no CONNACK within 10 s`))
    }, 10000).unref()
  })
}

async function main() {
  const seen = new Set()
  let received = 0
  let duplicates = 0
  let duplicatesWithoutDup = 0
  let lastFirstSeen = 0
  let inOrder = true
  let reconnects = 0
  let dropped = false
  let onComplete = null

  const resuming = opts.reconnectAfter > 0
  const subscriber = await connect('subscriber', resuming ? {
    clean: false,
    reconnectPeriod: 100,
    ...(opts.protocol === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}),
  } : {})

  subscriber.on('message', (topic, payload, packet) => {
    received++
    const seq = Number(payload.toString())
    if (seen.has(seq)) {
      duplicates++
      if (!packet.dup) duplicatesWithoutDup++
    } else {
      seen.add(seq)
      if (seq <= lastFirstSeen) inOrder = false
      lastFirstSeen = seq
    }
    if (resuming && !dropped && received >= opts.reconnectAfter) {
      // A lost network, not a goodbye: no DISCONNECT, so the session stays on the broker
      // and MQTT.js reconnects to it by itself after reconnectPeriod.
      dropped = true
      subscriber.stream.destroy()
    }
    if (seen.size === opts.count && onComplete) onComplete()
  })
  subscriber.on('close', () => {
    if (!resuming && !finished) errors.push('subscriber: connection closed unexpectedly')
  })
  subscriber.on('reconnect', () => { reconnects++ })

  await new Promise((resolve, reject) => {
    subscriber.subscribe(opts.topic, { qos: opts.subQos }, (err, granted) => {
      if (err) return reject(new Error(`subscriber: SUBSCRIBE failed: ${err.message}`))
      if (!granted || granted.length !== 1 || granted[0].qos !== opts.subQos) {
        return reject(new Error(`subscriber: SUBACK granted ${JSON.stringify(granted)}`))
      }
      resolve()
    })
  })

  const publisher = await connect('publisher', {})
  publisher.on('close', () => {
    if (!finished) errors.push('publisher: connection closed unexpectedly')
  })

  // Every publish() at once; MQTT.js queues them and calls back on PUBACK / PUBCOMP (QoS 0:
  // once written).
  let acked = 0
  const publishFailures = new Map()
  const allAcked = new Promise((resolve) => {
    let outstanding = opts.count
    for (let seq = 1; seq <= opts.count; seq++) {
      publisher.publish(opts.topic, String(seq), { qos: opts.pubQos }, (err) => {
        if (err) {
          publishFailures.set(err.message, (publishFailures.get(err.message) || 0) + 1)
        } else {
          acked++
        }
        if (--outstanding === 0) resolve(true)
      })
    }
  })
  const ackTimer = new Promise((resolve) => setTimeout(resolve, opts.ackTimeout * 1000, false))
  if (!(await Promise.race([allAcked, ackTimer]))) {
    errors.push(`publisher: ${opts.count - acked} publishes unacknowledged after ` +
                `${opts.ackTimeout} s`)
  }
  for (const [message, n] of publishFailures) errors.push(`publisher: ${n} x ${message}`)

  if (seen.size < opts.count) {
    await new Promise((resolve) => {
      onComplete = resolve
      setTimeout(resolve, opts.wait * 1000)
    })
  }
  finish(0, {
    published: acked,
    received,
    distinct: seen.size,
    duplicates,
    duplicates_without_dup: duplicatesWithoutDup,
    in_order: inOrder,
    reconnects,
  })
}

main().catch((err) => {
  errors.push(err.message)
  finish(1, { published: 0, received: 0, distinct: 0, duplicates: 0,
    duplicates_without_dup: 0, in_order: false, reconnects: 0 })
})
