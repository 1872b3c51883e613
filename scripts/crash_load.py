#!/usr/bin/env python3
"""The load, the webhook receiver and the checks of scripts/crash-loop.sh (issue 22).

Python 3 standard library only. Three subcommands, all working in the crash loop's work
directory WORK (see crash-loop.sh):

  receiver  A webhook receiver on 127.0.0.1 (port written to WORK/receiver.port). It checks
            each POST's HMAC-SHA256 signature (docs/exits-webhook.md), answers 200 and appends
            one JSON line per delivery to WORK/hook.jsonl, in arrival order: seq, event,
            request id, serial, and the SHA-256 of the certificate PEM on Issued. It outlives
            the server's kills, so it sees redeliveries.

  load      Mixed load with C client threads until the server dies (a connection error) or
            WORK/stop exists: submits to the auto profile (issued), to the manual profile
            (pending) and for a refused name (denied) as requesters; approvals, denials and
            revocations as a manager; CRL publication as the administrator. Every answer a
            client got is appended to WORK/ledger-RUN.jsonl: what it was told (status, the
            certificate's SHA-256, the CRL numbers). A call whose answer never came (the kill)
            is written as uncertain, with the states it may have left behind.

  check     After the restart: every request this run touched (or all of them, --full) is
            read back with GET /api/v1/cas/CA/requests/ID; what a client was told must be what
            is stored (status, and the same certificate PEM). The webhook must have received
            every outbox seq up to the head, first deliveries in increasing order, and an event
            for every acknowledged state change. The CRL served after the restart must not be
            older than any publication a client was told of, and a publication now must get a
            number above every number seen. Prints the run's figures; exit 1 if anything fails.

WORK/state.json carries the verified state between runs: every request with its stored
status and certificate hash, the CRL numbers seen, and the receiver log position.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Submissions are weighted heavier than the rest: they feed the pools the others draw from.
MIX = [
    ("issue", 46),
    ("pending", 16),
    ("denied_by_policy", 3),
    ("approve", 12),
    ("deny", 5),
    ("revoke", 14),
    ("crl", 4),
]
REASONS = ["unspecified", "keyCompromise", "superseded", "cessationOfOperation", "affiliationChanged"]
# States a request may be left in by a call whose answer never came: (before, after).
UNCERTAIN = {
    "approve": ("pending", "issued"),
    "deny": ("pending", "denied"),
    "revoke": ("issued", "revoked"),
}


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def load_json(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def write_json(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- receiver


def receiver(args):
    secret = open(args.secret_file, "rb").read().rstrip()
    log = open(os.path.join(args.work, "hook.jsonl"), "a", buffering=1)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            ts = self.headers.get("Signet-Timestamp", "")
            mac = hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest("sha256=" + mac, self.headers.get("Signet-Signature", "")):
                with lock:
                    log.write(json.dumps({"bad_signature": True}) + "\n")
                self.answer(401)
                return
            e = json.loads(body)
            cert = e.get("certificate") or {}
            line = {
                "seq": e["seq"],
                "event": e["event"],
                "req": (e.get("request") or {}).get("id"),
                "serial": cert.get("serial"),
                "pem": sha(cert["pem"]) if cert.get("pem") else None,
            }
            with lock:
                log.write(json.dumps(line) + "\n")
            self.answer(200)

        def answer(self, code):
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_file = os.path.join(args.work, "receiver.port")
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(port_file + ".tmp", port_file)
    server.serve_forever()


# ----------------------------------------------------------------------------- HTTP


class Gone(Exception):
    """The server did not answer: killed (or the connection broke) mid-call."""


class Client:
    """One keep-alive connection; any transport error means the server is gone."""

    def __init__(self, base):
        host, port = base.split("//", 1)[1].split(":")
        self.host, self.port = host, int(port.rstrip("/"))
        self.conn = None

    def call(self, method, path, token=None, body=None, timeout=30):
        headers = {}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            self.conn.request(method, path, body=data, headers=headers)
            r = self.conn.getresponse()
            raw = r.read()
        except (OSError, http.client.HTTPException) as e:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            raise Gone(repr(e)) from e
        if r.getheader("Content-Type", "").startswith(("application/json", "application/problem+json")):
            try:
                return r.status, json.loads(raw)
            except ValueError:
                pass
        return r.status, raw


# ----------------------------------------------------------------------------- load


def load(args):
    work, ca = args.work, args.ca
    tokens = load_json(os.path.join(work, "tokens.json"), {})
    csrs = load_json(os.path.join(work, "csrs.json"), {})
    state = load_json(os.path.join(work, "state.json"), {"requests": {}})
    good, evil = csrs["good"], csrs["evil"]
    # Pools built from the verified state: what may be approved or denied, what revoked.
    pending = [int(i) for i, r in state["requests"].items() if r["status"] == "pending"]
    issued = [(int(i), r["serial"]) for i, r in state["requests"].items() if r["status"] == "issued"]
    rng = random.Random(args.seed)
    rng.shuffle(pending)
    rng.shuffle(issued)
    lock = threading.Lock()
    ledger = open(os.path.join(work, f"ledger-{args.run}.jsonl"), "a", buffering=1)
    stop_file = os.path.join(work, "stop")
    stopped = threading.Event()

    def record(entry):
        with lock:
            ledger.write(json.dumps(entry) + "\n")

    def take(pool):
        with lock:
            return pool.pop() if pool else None

    def give(pool, item):
        with lock:
            pool.append(item)

    def worker(n):
        r = random.Random(args.seed * 1000 + n)
        client = Client(args.base)
        names, weights = zip(*MIX)
        base = f"/api/v1/cas/{ca}"
        while not stopped.is_set() and not os.path.exists(stop_file):
            op = r.choices(names, weights)[0]
            item = None
            if op in ("approve", "deny"):
                item = take(pending)
            elif op == "revoke":
                item = take(issued)
            if op in ("approve", "deny", "revoke") and item is None:
                op = "issue"
            try:
                if op in ("issue", "pending", "denied_by_policy"):
                    csr = r.choice(evil if op == "denied_by_policy" else good)
                    profile = "manual" if op == "pending" else "server"
                    code, body = client.call(
                        "POST", base + "/requests", tokens["requester"], {"csr": csr, "profile": profile}
                    )
                    entry = {"op": op, "code": code}
                    if code in (200, 201) and isinstance(body, dict):
                        entry.update(told(body))
                    else:
                        entry["refused"] = problem(body)
                    # Written down before another thread may act on it, so the ledger's
                    # order is the order of what clients were told about each request.
                    record(entry)
                    if entry.get("status") == "pending":
                        give(pending, entry["id"])
                    elif entry.get("status") == "issued":
                        give(issued, (entry["id"], entry.get("serial")))
                elif op in ("approve", "deny"):
                    path = f"{base}/requests/{item}/{op}"
                    payload = {"reason": "crash loop"} if op == "deny" else None
                    code, body = client.call("POST", path, tokens["manager"], payload)
                    entry = {"op": op, "code": code, "id": item}
                    if code == 200 and isinstance(body, dict):
                        entry.update(told(body))
                    else:
                        entry["refused"] = problem(body)
                    record(entry)
                    if entry.get("status") == "issued":
                        give(issued, (entry["id"], entry.get("serial")))
                elif op == "revoke":
                    rid, serial = item
                    reason = r.choice(REASONS)
                    code, body = client.call(
                        "POST", f"{base}/certificates/{serial}/revoke", tokens["manager"], {"reason": reason}
                    )
                    entry = {"op": op, "code": code, "id": rid, "serial": serial}
                    if code == 200 and isinstance(body, dict):
                        entry.update(told(body))
                    else:
                        entry["refused"] = problem(body)
                    record(entry)
                elif op == "crl":
                    code, body = client.call("POST", base + "/crls", tokens["admin"], {})
                    entry = {"op": op, "code": code}
                    if code == 201 and isinstance(body, list):
                        entry["crls"] = [[c["shard"], c["number"], c.get("delta_base")] for c in body]
                    elif code != 409:  # 409: another publication of this CA is under way
                        entry["refused"] = problem(body)
                    record(entry)
            except Gone as e:
                # No answer: the call may or may not have taken effect.
                entry = {"op": op, "gone": str(e)[:200]}
                if op in UNCERTAIN:
                    entry["id"] = item if op != "revoke" else item[0]
                    entry["may_be"] = list(UNCERTAIN[op])
                record(entry)
                stopped.set()
                return

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def told(body):
    """What a client was told about a request: id, status and certificate."""
    out = {"id": body.get("id"), "status": body.get("status")}
    cert = body.get("certificate")
    if isinstance(cert, dict):  # the admin views nest the certificate
        out["serial"] = cert.get("serial")
        cert = cert.get("pem")
    else:
        out["serial"] = body.get("serial")
    if isinstance(cert, str) and cert:
        out["pem"] = sha(cert)
    return out


def problem(body):
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:200]
    return repr(body)[:200]


# ----------------------------------------------------------------------------- check


def check(args):
    work, ca = args.work, args.ca
    tokens = load_json(os.path.join(work, "tokens.json"), {})
    state = load_json(
        os.path.join(work, "state.json"),
        {"requests": {}, "crl_max": 0, "crl_told_max": 0, "hook_lines": 0, "hook_first_max": 0, "hook_seen_list": []},
    )
    reqs = state["requests"]
    failures = []
    counts = {}
    expect = {}  # id -> {"status": s} or {"may_be": [...]}
    told_events = []  # (id, event, pem sha or None): an exit event each acknowledged change must produce
    crl_told = []
    ledger_path = os.path.join(work, f"ledger-{args.run}.jsonl")
    entries = []
    if os.path.exists(ledger_path):
        with open(ledger_path) as f:
            entries = [json.loads(line) for line in f if line.strip()]
    for e in entries:
        op = e["op"]
        if "gone" in e:
            counts["unanswered"] = counts.get("unanswered", 0) + 1
            if "may_be" in e:
                expect[str(e["id"])] = {"may_be": e["may_be"]}
            continue
        if "refused" in e:
            counts["refused"] = counts.get("refused", 0) + 1
            failures.append(f"run {args.run}: {op} answered {e['code']}: {e['refused']}")
            continue
        if op == "crl":
            if "crls" in e:
                counts["crl"] = counts.get("crl", 0) + 1
                crl_told += [c[1] for c in e["crls"] if c[0] == 0 and c[2] is None]
            else:
                counts["crl_busy"] = counts.get("crl_busy", 0) + 1
            continue
        counts[op] = counts.get(op, 0) + 1
        if e.get("id") is None:
            failures.append(f"run {args.run}: {op} answered {e['code']} without a request id")
            continue
        rid = str(e["id"])
        want = {"status": e["status"]}
        if e.get("pem"):
            want["pem"] = e["pem"]
            counts["certificates"] = counts.get("certificates", 0) + 1
        elif rid in expect and expect[rid].get("pem"):
            want["pem"] = expect[rid]["pem"]
        elif rid in reqs and reqs[rid].get("pem"):
            want["pem"] = reqs[rid]["pem"]
        expected_status = {"issue": "issued", "pending": "pending", "denied_by_policy": "denied",
                           "approve": "issued", "deny": "denied", "revoke": "revoked"}[op]
        if e["status"] != expected_status:
            failures.append(f"run {args.run}: {op} of request {rid} answered status {e['status']!r}")
        expect[rid] = want
        event = {"issued": "Issued", "pending": "Pending", "denied": "Denied", "revoked": "Revoked"}.get(e["status"])
        if event:
            told_events.append((rid, event, e.get("pem") if event == "Issued" else None))

    # 1. Every request touched this run (or every request on record, --full) as clients were told.
    ids = sorted(set(expect) | (set(reqs) if args.full else set()), key=int)
    client = Client(args.base)
    checked = 0
    for rid in ids:
        try:
            code, body = client.call("GET", f"/api/v1/cas/{ca}/requests/{rid}", tokens["manager"])
        except Gone as e:
            failures.append(f"run {args.run}: GET request {rid}: no answer ({e})")
            break
        checked += 1
        want = expect.get(rid) or reqs.get(rid)
        if code != 200 or not isinstance(body, dict):
            failures.append(f"LOST run {args.run}: request {rid} ({want}) answers {code}: {problem(body)}")
            continue
        got = told(body)
        if "may_be" in want:
            if got["status"] not in want["may_be"]:
                failures.append(f"run {args.run}: request {rid} is {got['status']}, expected one of {want['may_be']}")
            prior = reqs.get(rid, {})
            if prior.get("pem") and got.get("pem") != prior["pem"]:
                failures.append(f"LOST run {args.run}: request {rid}: certificate changed")
        else:
            if got["status"] != want["status"]:
                failures.append(
                    f"LOST run {args.run}: request {rid}: client was told {want['status']}, stored {got['status']}"
                )
            if want.get("pem") and got.get("pem") != want["pem"]:
                failures.append(f"LOST run {args.run}: request {rid}: the stored certificate is not the one received")
        reqs[rid] = {"status": got["status"], "serial": got.get("serial"), "pem": got.get("pem")}

    # 2. Exit events: every outbox seq up to the head delivered, first deliveries in order.
    head = cursor = None
    wait_start = time.time()
    deadline = wait_start + args.exit_wait
    while True:
        code, body = client.call("GET", f"/api/v1/cas/{ca}/exits", tokens["manager"])
        hook = [x for x in body if x.get("exit") == "hook"] if code == 200 and isinstance(body, list) else []
        if hook:
            head, cursor = hook[0].get("head"), hook[0].get("cursor")
            if head is not None and cursor == head and not hook[0].get("parked"):
                break
        if time.time() > deadline:
            failures.append(f"run {args.run}: webhook did not catch up in {args.exit_wait}s: {hook}")
            break
        time.sleep(0.1)
    caught_up = time.time() - wait_start
    seen = set(state.get("hook_seen_list", []))
    first_max = state["hook_first_max"]
    delivered = redelivered = 0
    by_request = {}
    with open(os.path.join(work, "hook.jsonl")) as f:
        lines = f.readlines()
    for line in lines[state["hook_lines"]:]:
        d = json.loads(line)
        if d.get("bad_signature"):
            failures.append(f"run {args.run}: a webhook POST with a bad signature")
            continue
        s = d["seq"]
        if s in seen:
            redelivered += 1
        else:
            delivered += 1
            if s <= first_max:
                failures.append(f"run {args.run}: event seq {s} first delivered after seq {first_max}")
            first_max = max(first_max, s)
            seen.add(s)
    # The request-to-event index covers the whole log: an event may precede its check.
    for line in lines:
        d = json.loads(line)
        if d.get("req") is not None:
            by_request.setdefault((str(d["req"]), d["event"]), set()).add(d.get("pem"))
    if head is not None:
        missing = [s for s in range(1, head + 1) if s not in seen]
        if missing:
            failures.append(
                f"LOST run {args.run}: {len(missing)} outbox events never delivered (head {head}): {missing[:10]}"
            )
    for rid, event, pem in told_events:
        pems = by_request.get((rid, event))
        if not pems:
            failures.append(f"LOST run {args.run}: no {event} event for request {rid}")
        elif pem and pem not in pems:
            failures.append(f"LOST run {args.run}: the {event} event of request {rid} carries another certificate")
    state["hook_lines"] = len(lines)
    state["hook_first_max"] = first_max
    state["hook_seen_list"] = sorted(seen)

    # 3. CRL numbers: the served CRL is not older than any publication a client was told of,
    # and one published now gets a number above every number seen.
    told_max = max([state["crl_told_max"]] + crl_told)
    before = crl_number(args.base, ca)
    if before is None:
        failures.append(f"run {args.run}: no CRL served after the restart")
        before = 0
    if before < told_max:
        failures.append(f"LOST run {args.run}: served CRL number {before} is older than {told_max}, told to a client")
    code, body = client.call("POST", f"/api/v1/cas/{ca}/crls", tokens["admin"], {})
    published = None
    if code == 201 and isinstance(body, list):
        fulls = [c["number"] for c in body if c["shard"] == 0 and c.get("delta_base") is None]
        published = fulls[0] if fulls else None
    if published is None:
        failures.append(f"run {args.run}: CRL publication after the restart answered {code}: {problem(body)}")
    else:
        if published <= max(state["crl_max"], told_max, before):
            failures.append(
                f"run {args.run}: CRL number {published} after the restart is not above "
                f"{max(state['crl_max'], told_max, before)}"
            )
        after = crl_number(args.base, ca)
        if after != published:
            failures.append(f"run {args.run}: served CRL number {after}, just published {published}")
        state["crl_max"] = max(state["crl_max"], published)
    state["crl_told_max"] = told_max

    write_json(os.path.join(work, "state.json"), state)
    figures = {
        "run": args.run,
        "ops": {k: v for k, v in counts.items() if k not in ("certificates",)},
        "certificates": counts.get("certificates", 0),
        "checked": checked,
        "events": delivered,
        "redelivered": redelivered,
        "outbox_head": head,
        "catch_up_s": round(caught_up, 1),
        "crl": [before, published],
        "failures": len(failures),
    }
    with open(os.path.join(work, "figures.jsonl"), "a") as f:
        f.write(json.dumps(figures) + "\n")
    for x in failures:
        print("FAIL " + x, file=sys.stderr)
    ops = " ".join(f"{k}={v}" for k, v in sorted(figures["ops"].items()))
    print(
        f"certs={figures['certificates']} {ops} checked={checked} events+={delivered} "
        f"redelivered={redelivered} head={head} (caught up in {caught_up:.1f}s) crl={before}->{published} failures={len(failures)}"
    )
    return 1 if failures else 0


def crl_number(base, ca):
    """The CRL number of /crl/CA.crl, read by openssl (not by us)."""
    c = Client(base)
    code, raw = c.call("GET", f"/crl/{ca}.crl")
    if code != 200:
        return None
    out = subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-noout", "-crlnumber"], input=raw, capture_output=True
    )
    text = out.stdout.decode().strip()  # crlNumber=0x1A
    if out.returncode != 0 or "=" not in text:
        return None
    return int(text.split("=", 1)[1], 16)


# ----------------------------------------------------------------------------- summary


def summary(args):
    runs = [json.loads(line) for line in open(os.path.join(args.work, "figures.jsonl")) if line.strip()]
    ops = {}
    for r in runs:
        for k, v in r["ops"].items():
            ops[k] = ops.get(k, 0) + v
    total = {
        "runs": len([r for r in runs if r["run"] != "final"]),
        "operations": ops,
        "certificates_received": sum(r["certificates"] for r in runs),
        "events_delivered": sum(r["events"] for r in runs),
        "events_redelivered": sum(r["redelivered"] for r in runs),
        "requests_checked": sum(r["checked"] for r in runs),
        "failures": sum(r["failures"] for r in runs),
    }
    print(json.dumps(total, indent=1))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("receiver")
    r.add_argument("--work", required=True)
    r.add_argument("--secret-file", required=True)
    lo = sub.add_parser("load")
    lo.add_argument("--work", required=True)
    lo.add_argument("--base", required=True)
    lo.add_argument("--ca", default="demo")
    lo.add_argument("--run", required=True)
    lo.add_argument("--concurrency", type=int, default=8)
    lo.add_argument("--seed", type=int, default=1)
    c = sub.add_parser("check")
    c.add_argument("--work", required=True)
    c.add_argument("--base", required=True)
    c.add_argument("--ca", default="demo")
    c.add_argument("--run", required=True)
    c.add_argument("--full", action="store_true")
    c.add_argument("--exit-wait", type=float, default=60)
    s = sub.add_parser("summary")
    s.add_argument("--work", required=True)
    args = p.parse_args()
    sys.exit({"receiver": receiver, "load": load, "check": check, "summary": summary}[args.cmd](args) or 0)


if __name__ == "__main__":
    main()
