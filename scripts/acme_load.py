#!/usr/bin/env python3
"""ACME (RFC 8555) order-throughput load generator.

Origin: the team's shared interop kit (../shared/interop/acme/acme_load.py, written for the
pebble baseline of November 2026), copied here so scripts/bench-acme.sh does not depend on
../shared at run time. Changes from that copy: the default --name-suffix is bench.test (the
dev `server` profile accepts names under `test`), and the summary adds `stalled` (true when a
5 s bucket of the window completed no order).

Reusable against any ACME server (pebble, our Rust CA, ...).  One account is
registered once and shared; every worker thread has its own ClientNetwork
(own HTTP keep-alive session + own nonce pool) and loops:

    newOrder -> POST-as-GET authz -> [POST challenge {} -> poll authz]
             -> finalize (fresh CSR) -> poll order -> POST-as-GET certificate

The challenge step is skipped when the server hands out an already-valid authz.
Polling uses a short exponential backoff (--poll-min-ms .. --poll-max-ms) and
ignores Retry-After unless --honor-retry-after, so the client does not add the
1 s sleeps the acme library's poll_and_finalize() would.

Against a server that really validates, pass --challtestsrv URL to publish the
http-01 / dns-01 / tls-alpn-01 response in pebble-challtestsrv before answering.

Use --procs > 1 to get past the Python GIL (each process runs --threads
threads, same account).  Orders are counted only if they complete inside the
measurement window [start+warmup, start+warmup+duration].

Needs: pip install acme josepy cryptography requests   (tested: acme 5.9.0)
"""
import argparse
import json
import multiprocessing as mp
import os
import re
import statistics
import sys
import threading
import time
import traceback

import josepy as jose
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from acme import challenges, client, messages

STATUS_DONE = (messages.STATUS_VALID, messages.STATUS_INVALID)


# ----------------------------------------------------------------- helpers
def read_cpu_proc(pid):
    """utime+stime (seconds) of a whole process (all threads) from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def read_cpu_system():
    """(busy, softirq+irq, steal) jiffies of the whole machine from /proc/stat.
    busy = user+nice+system+irq+softirq (steal, idle, iowait excluded)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[5] + v[6], v[5] + v[6], v[7]


def make_key(kind):
    if kind == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(kind)


def make_csr_pem(key, names):
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                          critical=False)
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


def jwk_and_alg(key):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return jose.JWKEC(key=key), {256: jose.ES256, 384: jose.ES384}[key.curve.key_size]
    return jose.JWKRSA(key=key), jose.RS256


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.http = 0


def make_client(args, directory, acct_key, regr, counters):
    jwk, alg = jwk_and_alg(acct_key)
    verify = args.ca_bundle if args.ca_bundle else (not args.insecure)
    net = client.ClientNetwork(key=jwk, account=regr, alg=alg, verify_ssl=verify,
                               user_agent="acme_load.py", timeout=args.http_timeout)
    orig = net._send_request

    def counting_send(method, url, *a, **kw):  # count HTTP round trips
        with counters.lock:
            counters.http += 1
        return orig(method, url, *a, **kw)
    net._send_request = counting_send
    orig_post = net.post

    def post_retrying(*a, **kw):  # ClientNetwork.post retries badNonce only once
        for attempt in range(5):
            try:
                return orig_post(*a, **kw)
            except messages.Error as e:
                if e.code != "badNonce" or attempt == 4:
                    raise
    net.post = post_retrying
    return client.ClientV2(directory, net), net


def poll(fn, done, args, deadline):
    """Call fn() until done(result); short exponential backoff between tries."""
    delay = args.poll_min_ms / 1000.0
    npoll = 0
    while True:
        res, resp = fn()
        npoll += 1
        if done(res):
            return res, npoll
        if time.monotonic() > deadline:
            raise TimeoutError("poll deadline exceeded")
        sleep = delay
        if args.honor_retry_after and resp is not None and resp.headers.get("Retry-After"):
            try:
                sleep = max(sleep, float(resp.headers["Retry-After"]))
            except ValueError:
                pass
        time.sleep(sleep)
        delay = min(delay * 2, args.poll_max_ms / 1000.0)


def challtestsrv_post(args, path, obj):
    r = requests.post(args.challtestsrv.rstrip("/") + path, data=json.dumps(obj), timeout=5)
    r.raise_for_status()


class EmptyObj(jose.JSONObjectWithFields):
    """Serialises to {} -- the RFC 8555 s7.5.1 challenge-response payload."""

    def __bool__(self):  # ClientNetwork sends b"" (POST-as-GET) for falsy objects
        return True


def chall_type(challb):
    # acme>=3 no longer models tls-alpn-01: it arrives as UnrecognizedChallenge(jobj=...)
    jobj = getattr(challb.chall, "jobj", None)
    return jobj.get("type") if isinstance(jobj, dict) else challb.chall.typ


def chall_token(challb):
    if hasattr(challb.chall, "jobj"):
        return challb.chall.jobj["token"]
    return challb.chall.encode("token")


def key_authorization(token, jwk):
    return token + "." + jose.b64encode(jwk.thumbprint(hash_function=hashes.SHA256)).decode()


def dns01_value(keyauth):
    h = hashes.Hash(hashes.SHA256())
    h.update(keyauth.encode())
    return jose.b64encode(h.finalize()).decode()


def publish(args, ctype, token, keyauth, name):
    if ctype == "http-01":
        challtestsrv_post(args, "/add-http01", {"token": token, "content": keyauth})
    elif ctype == "dns-01":  # NB: challtestsrv needs the trailing dot on TXT hosts
        challtestsrv_post(args, "/set-txt",
                          {"host": f"_acme-challenge.{name}.", "value": dns01_value(keyauth)})
    elif ctype == "tls-alpn-01":
        challtestsrv_post(args, "/add-tlsalpn01", {"host": name, "content": keyauth})


def unpublish(args, ctype, token, name):
    try:
        if ctype == "http-01":
            challtestsrv_post(args, "/del-http01", {"token": token})
        elif ctype == "dns-01":
            challtestsrv_post(args, "/clear-txt", {"host": f"_acme-challenge.{name}."})
        elif ctype == "tls-alpn-01":
            challtestsrv_post(args, "/del-tlsalpn01", {"host": name})
    except Exception:  # best effort
        pass


# ----------------------------------------------------------------- one order
def one_order(args, cl, jwk, names, cert_key):
    deadline = time.monotonic() + args.order_timeout
    stats = {"polls_authz": 0, "polls_order": 0, "chall_posts": 0}
    csr_pem = make_csr_pem(cert_key, names)
    orderr = cl.new_order(csr_pem)  # POST newOrder + POST-as-GET each authz
    for authzr in orderr.authorizations:
        if authzr.body.status == messages.STATUS_VALID:
            continue
        name = authzr.body.identifier.value
        challb = next((c for c in authzr.body.challenges if chall_type(c) == args.challenge), None)
        if challb is None:
            raise RuntimeError(f"no {args.challenge} challenge offered")
        token = chall_token(challb)
        if args.challtestsrv:
            publish(args, args.challenge, token, key_authorization(token, jwk), name)
        try:
            cl._post(challb.uri, EmptyObj())  # POST {} to the challenge URL
            stats["chall_posts"] += 1
            authz, n = poll(lambda: cl.poll(authzr),
                            lambda a: a.body.status not in (messages.STATUS_PENDING,
                                                            messages.STATUS_PROCESSING),
                            args, deadline)
            stats["polls_authz"] += n
        finally:
            if args.challtestsrv:
                unpublish(args, args.challenge, token, name)
        if authz.body.status != messages.STATUS_VALID:
            raise RuntimeError(f"authz {authzr.uri} ended {authz.body.status}")
    orderr = cl.begin_finalization(orderr)  # POST finalize {csr}

    def get_order():
        resp = cl._post_as_get(orderr.uri)
        return messages.Order.from_json(resp.json()), resp
    if orderr.body.status == messages.STATUS_VALID and orderr.body.certificate:
        body = orderr.body
    else:
        body, n = poll(get_order, lambda o: o.status in STATUS_DONE, args, deadline)
        stats["polls_order"] += n
    if body.status != messages.STATUS_VALID or not body.certificate:
        raise RuntimeError(f"order {orderr.uri} ended {body.status}: {body.error}")
    pem = cl._post_as_get(body.certificate).text  # download fullchain
    if "BEGIN CERTIFICATE" not in pem:
        raise RuntimeError("certificate download did not return PEM")
    return stats


# ----------------------------------------------------------------- workers
def thread_main(args, wid, tid, directory, acct_key, regr, t_start, t_end, out, counters):
    cl, net = make_client(args, directory, acct_key, regr, counters)
    jwk = net.key
    cert_key = None if args.key_per_order else make_key(args.cert_key)
    n = 0
    while time.time() < t_end:
        n += 1
        names = [f"p{wid}t{tid}n{n}d{i}.{args.name_suffix}" for i in range(args.domains_per_order)]
        t0 = time.time()
        try:
            st = one_order(args, cl, jwk, names, make_key(args.cert_key) if args.key_per_order else cert_key)
            t1 = time.time()
            out.append(("ok", t0, t1, st))
        except Exception as e:  # record and keep going
            t1 = time.time()
            kind = getattr(e, "typ", None) or f"{type(e).__name__}: {str(e)[:120]}"
            out.append(("err", t0, t1, re.sub(r"[A-Za-z0-9_-]{16,}|p\d+t\d+n\d+d\d+", "*", kind)))
            if args.verbose:
                traceback.print_exc()
            time.sleep(0.05)


def proc_main(args, wid, directory, acct_key, regr, t_start, t_win0, t_end, q):
    # "fork" start method: objects are inherited, not pickled
    counters = Counters()
    outs, threads = [], []
    cpu = {}

    def sampler():
        time.sleep(max(0, t_win0 - time.time()))
        t = os.times(); cpu["c0"] = t.user + t.system; h0 = counters.http
        time.sleep(max(0, t_end - time.time()))
        t = os.times(); cpu["c1"] = t.user + t.system; cpu["http"] = counters.http - h0
    s = threading.Thread(target=sampler, daemon=True)
    s.start()
    for tid in range(args.threads):
        out = []
        outs.append(out)
        th = threading.Thread(target=thread_main, daemon=True,
                              args=(args, wid, tid, directory, acct_key, regr, t_start, t_end, out, counters))
        th.start()
        threads.append(th)
    s.join()
    for th in threads:
        th.join(timeout=args.order_timeout + 5)
    res = [r for o in outs for r in o]
    q.put({"wid": wid, "results": res, "cpu_s": cpu.get("c1", 0) - cpu.get("c0", 0),
           "http_in_window": cpu.get("http", 0)})


# ----------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--directory", default="https://127.0.0.1:14000/dir")
    ap.add_argument("--ca-bundle", help="PEM bundle to trust for the ACME server's TLS cert")
    ap.add_argument("--insecure", action="store_true", help="do not verify the server TLS cert")
    ap.add_argument("--duration", type=float, default=30, help="measurement window, s")
    ap.add_argument("--warmup", type=float, default=3, help="s of load before the window opens")
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=8, help="threads per process")
    ap.add_argument("--domains-per-order", type=int, default=1)
    ap.add_argument("--name-suffix", default="bench.test")
    ap.add_argument("--challenge", default="http-01", choices=["http-01", "dns-01", "tls-alpn-01"])
    ap.add_argument("--challtestsrv", help="e.g. http://127.0.0.1:8055: publish challenge responses there")
    ap.add_argument("--account-key", default="ec256", choices=["ec256", "ec384", "rsa2048"])
    ap.add_argument("--cert-key", default="ec256", choices=["ec256", "ec384", "rsa2048"])
    ap.add_argument("--key-per-order", action=argparse.BooleanOptionalAction, default=True,
                    help="fresh certificate key per order (default) or one per thread")
    ap.add_argument("--poll-min-ms", type=float, default=5)
    ap.add_argument("--poll-max-ms", type=float, default=500)
    ap.add_argument("--honor-retry-after", action="store_true")
    ap.add_argument("--order-timeout", type=float, default=60)
    ap.add_argument("--http-timeout", type=int, default=30)
    ap.add_argument("--eab-kid")
    ap.add_argument("--eab-hmac", help="base64url HMAC key for External Account Binding")
    ap.add_argument("--server-pid", type=int, action="append", default=[],
                    help="PID(s) of the ACME server, to report its CPU over the window")
    ap.add_argument("--json", help="write the summary as JSON to this file")
    ap.add_argument("--label", default="")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    # --- account (registered once, shared by every thread/process)
    acct_key = make_key(args.account_key)
    counters = Counters()
    verify = args.ca_bundle if args.ca_bundle else (not args.insecure)
    jwk, alg = jwk_and_alg(acct_key)
    net = client.ClientNetwork(key=jwk, alg=alg, verify_ssl=verify, user_agent="acme_load.py")
    directory = client.ClientV2.get_directory(args.directory, net)
    cl = client.ClientV2(directory, net)
    eab = None
    if args.eab_kid:
        eab = messages.ExternalAccountBinding.from_data(account_public_key=jwk.public_key(),
                                                        kid=args.eab_kid, hmac_key=args.eab_hmac,
                                                        directory=directory)
    regr = cl.new_account(messages.NewRegistration.from_data(
        terms_of_service_agreed=True, external_account_binding=eab))
    print(f"account: {regr.uri}", file=sys.stderr)

    t_start = time.time() + 0.5
    t_win0 = t_start + args.warmup
    t_end = t_win0 + args.duration
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=proc_main,
                         args=(args, w, directory, acct_key, regr,
                               t_start, t_win0, t_end, q))
             for w in range(args.procs)]
    for p in procs:
        p.start()

    # --- server / machine CPU sampled over exactly the window
    time.sleep(max(0, t_win0 - time.time()))
    srv0 = [read_cpu_proc(p) for p in args.server_pid]
    sys0 = read_cpu_system()
    time.sleep(max(0, t_end - time.time()))
    srv1 = [read_cpu_proc(p) for p in args.server_pid]
    sys1 = read_cpu_system()

    reports = [q.get(timeout=args.order_timeout + 30) for _ in procs]
    for p in procs:
        p.join()

    ok, errs, lat, polls_a, polls_o = 0, {}, [], 0, 0
    for rep in reports:
        for r in rep["results"]:
            kind, t0, t1, info = r
            if not (t_win0 <= t1 <= t_end):
                continue
            if kind == "ok":
                ok += 1
                lat.append(t1 - t0)
                polls_a += info["polls_authz"]
                polls_o += info["polls_order"]
            else:
                errs[info] = errs.get(info, 0) + 1
    client_cpu = sum(r["cpu_s"] for r in reports)
    http_n = sum(r["http_in_window"] for r in reports)
    srv_cpu = None
    if args.server_pid and None not in srv0 and None not in srv1:
        srv_cpu = sum(b - a for a, b in zip(srv0, srv1))
    hz = os.sysconf("SC_CLK_TCK")
    sys_busy = (sys1[0] - sys0[0]) / hz
    sys_irq = (sys1[1] - sys0[1]) / hz
    sys_steal = (sys1[2] - sys0[2]) / hz
    lat.sort()
    # completions per 5 s bucket inside the window (spot stalls / degradation)
    nb = max(1, int(args.duration // 5))
    buckets = [0] * nb
    for rep in reports:
        for kind, t0, t1, info in rep["results"]:
            if kind == "ok" and t_win0 <= t1 <= t_end:
                buckets[min(nb - 1, int((t1 - t_win0) // 5))] += 1

    def pct(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
    summary = {
        "label": args.label, "directory": args.directory, "procs": args.procs,
        "threads_per_proc": args.threads, "concurrency": args.procs * args.threads,
        "domains_per_order": args.domains_per_order, "challenge": args.challenge,
        "duration_s": args.duration, "orders_ok": ok, "orders_per_s": ok / args.duration,
        "errors": sum(errs.values()), "error_kinds": errs,
        "lat_p50_ms": pct(0.5) * 1000, "lat_p90_ms": pct(0.9) * 1000, "lat_p99_ms": pct(0.99) * 1000,
        "lat_mean_ms": (statistics.mean(lat) * 1000 if lat else float("nan")),
        "authz_polls_per_order": polls_a / ok if ok else None,
        "order_polls_per_order": polls_o / ok if ok else None,
        "http_requests_per_s": http_n / args.duration,
        "client_cpu_cores": client_cpu / args.duration,
        "server_cpu_cores": (srv_cpu / args.duration) if srv_cpu is not None else None,
        "machine_busy_cores": sys_busy / args.duration, "ncpu": os.cpu_count(),
        "machine_irq_softirq_cores": sys_irq / args.duration,
        "machine_steal_cores": sys_steal / args.duration,
        "client_cpu_ms_per_order": client_cpu * 1000 / ok if ok else None,
        "server_cpu_ms_per_order": srv_cpu * 1000 / ok if (ok and srv_cpu is not None) else None,
        "other_cpu_cores": (sys_busy - client_cpu - (srv_cpu or 0)) / args.duration,
        "orders_per_5s": buckets,
        "stalled": any(b == 0 for b in buckets),
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
