'use strict'
// Interop test: the npm MessagePack-RPC client msgpack5rpc against Ferry's
// arith example server (examples/arith/server) over TCP.
//
// Usage: node test.js HOST:PORT   (or FERRY_ADDR=HOST:PORT)
// Prints one line per check and a final line "N passed, N failed"; exits
// non-zero if any check failed.
//
// msgpack5rpc's Session writes [0, id, method, args] with ids counting from
// 1 and hands the response's error and result to the request's callback.
// A second msgpack5 decoder taps the same socket and records every message
// the server sends, so the test can prove that notifications get no answer
// (msgpack5rpc itself would crash on a response to an id it never sent).

const net = require('net')
const assert = require('assert')
const Session = require('msgpack5rpc')
const msgpack5 = require('msgpack5')

const TIMEOUT_MS = 10000

function connect (host, port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port })
    socket.once('error', reject)
    socket.once('connect', () => {
      socket.removeListener('error', reject)
      const session = new Session()
      session.attach(socket, socket)
      const seen = [] // every message the server sent, decoded
      const tap = msgpack5().decoder({ header: false })
      tap.on('data', (msg) => seen.push(msg))
      socket.pipe(tap)
      resolve({ socket, session, seen })
    })
  })
}

// call sends a request and resolves with { err, result }.
function call (conn, method, args) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(method + ': no response in ' + TIMEOUT_MS + ' ms')), TIMEOUT_MS)
    conn.session.request(method, args, (err, result) => {
      clearTimeout(timer)
      resolve({ err, result })
    })
  })
}

async function ok (conn, method, args) {
  const { err, result } = await call(conn, method, args)
  assert.strictEqual(err, null, method + ' failed: ' + err)
  return result
}

// until resolves once cond() holds, polling on the event loop.
function until (cond) {
  const deadline = Date.now() + TIMEOUT_MS
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (cond()) return resolve()
      if (Date.now() > deadline) return reject(new Error('timed out waiting'))
      setImmediate(poll)
    }
    poll()
  })
}

function close (conn) {
  return new Promise((resolve) => {
    conn.socket.once('close', resolve)
    conn.socket.end()
  })
}

// Each check gets a fresh connection.
const checks = [
  ['Arith.Add', async (c) => {
    assert.strictEqual(await ok(c, 'Arith.Add', [3, 4]), 7)
    assert.strictEqual(await ok(c, 'Arith.Add', [-10, 3]), -7)
  }],
  ['Arith.Mul (typed handler)', async (c) => {
    assert.strictEqual(await ok(c, 'Arith.Mul', [6, 7]), 42)
  }],
  ['Arith.Div truncates toward zero', async (c) => {
    assert.strictEqual(await ok(c, 'Arith.Div', [7, 2]), 3)
    assert.strictEqual(await ok(c, 'Arith.Div', [-7, 2]), -3)
  }],
  ['Arith.Div by zero: readable error, connection kept', async (c) => {
    const { err, result } = await call(c, 'Arith.Div', [1, 0])
    assert.strictEqual(typeof err, 'string', 'error is ' + JSON.stringify(err))
    assert.ok(err.includes('division by zero'), err)
    assert.strictEqual(result, null)
    assert.strictEqual(await ok(c, 'Arith.Add', [1, 2]), 3)
  }],
  ['unknown method: error response, connection kept', async (c) => {
    const { err, result } = await call(c, 'Nope.Nothing', [1])
    assert.strictEqual(typeof err, 'string', 'error is ' + JSON.stringify(err))
    assert.ok(err.length > 0)
    assert.strictEqual(result, null)
    assert.strictEqual(await ok(c, 'Arith.Add', [2, 2]), 4)
  }],
  ['Echo values', async (c) => {
    const values = [
      'héllo, ferry',
      '',
      Buffer.from([0, 1, 254, 255]),
      0, -1, 127, -32, 255, 65535, -2147483648, 2 ** 40, -(2 ** 40),
      0.5, -2.25, 1e300,
      null, true, false,
      [1, [2, [3, []]], 'a'],
      { a: 1, b: { c: [null, 'x'] } },
      'w'.repeat(200 * 1024)
    ]
    for (const v of values) {
      const got = await ok(c, 'Echo.Echo', [v])
      assert.deepStrictEqual(got, v, 'echo of ' + JSON.stringify(v).slice(0, 40))
    }
    const both = await ok(c, 'Echo.Echo', [['text', Buffer.from('text')]])
    assert.strictEqual(typeof both[0], 'string')
    assert.ok(Buffer.isBuffer(both[1]), 'bin came back as ' + typeof both[1])
  }],
  ['50 concurrent calls', async (c) => {
    const pending = []
    for (let i = 0; i < 50; i++) {
      const method = i % 3 === 0 ? 'Arith.Mul' : i % 3 === 1 ? 'Arith.Add' : 'Echo.Echo'
      const args = method === 'Echo.Echo' ? ['v' + i] : [i, 2]
      pending.push(ok(c, method, args).then((r) => [i, method, r]))
    }
    for (const [i, method, r] of await Promise.all(pending)) {
      const want = method === 'Arith.Mul' ? 2 * i : method === 'Arith.Add' ? i + 2 : 'v' + i
      assert.strictEqual(r, want, method + ' #' + i)
    }
  }],
  ['notifications never answered', async (c) => {
    c.session.notify('Arith.Add', [1, 2])
    c.session.notify('Arith.Div', [1, 0]) // an error: still no answer
    c.session.notify('Nope.Nothing', []) // unknown: still no answer
    const before = c.seen.length
    assert.strictEqual(await ok(c, 'Arith.Add', [5, 5]), 10)
    // Sent after the notifications: any answer to them would have arrived
    // before this response.
    assert.strictEqual(await ok(c, 'Arith.Add', [6, 6]), 12)
    // The tap decodes on its own schedule: wait until it has the last
    // response too.
    await until(() => c.seen.some((m) => m[0] === 1 && m[3] === 12))
    const got = c.seen.slice(before)
    assert.strictEqual(got.length, 2, 'server sent ' + JSON.stringify(got))
    for (const m of got) assert.strictEqual(m[0], 1, 'not a response: ' + JSON.stringify(m))
  }]
]

async function main () {
  const target = process.argv[2] || process.env.FERRY_ADDR || ''
  const i = target.lastIndexOf(':')
  if (i < 0) {
    console.error('usage: node test.js HOST:PORT (or FERRY_ADDR)')
    process.exit(2)
  }
  const host = target.slice(0, i)
  const port = Number(target.slice(i + 1))

  let passed = 0
  let failed = 0
  for (const [name, check] of checks) {
    const start = Date.now()
    let c
    try {
      c = await connect(host, port)
      await check(c)
      // Whatever the check did, every message the server sent was a
      // response to one of its requests.
      for (const m of c.seen) assert.strictEqual(m[0], 1, 'unexpected message ' + JSON.stringify(m).slice(0, 80))
      passed++
      console.log('ok   ' + name + ' (' + (Date.now() - start) + ' ms)')
    } catch (e) {
      failed++
      console.log('FAIL ' + name + ': ' + (e && e.message ? e.message : e))
    } finally {
      if (c) await close(c)
    }
  }
  console.log(passed + ' passed, ' + failed + ' failed')
  process.exitCode = failed ? 1 : 0
}

process.on('uncaughtException', (e) => {
  console.log('FAIL uncaught exception: ' + (e && e.stack ? e.stack : e))
  console.log('0 passed, 1 failed')
  process.exit(1)
})

main()
