"""Simulated log systems for the demo trace: templates, value generators and realistic model answers.

Everything here is invented for the demo (no line comes from a real corpus). A template is written with
typed slots, e.g. ``"Accepted password for {user} from {ip} port {port} ssh2"``; its reference (the ground
truth) replaces every slot with ``<*>`` and a log line fills every slot with a generated value.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass

WILDCARD = "<*>"
_SLOT = re.compile(r"\{([a-z0-9_]+)\}")
_WS = re.compile(r"\s+")

# Slot types whose values look like ordinary words: models tend to keep them as literals.
WORDLIKE = frozenset({
    "user", "word", "ns", "db", "table", "cls", "jmethod", "var", "svc", "topic", "grp", "state",
    "bucket", "pgstate", "host", "thread", "method", "container", "zone", "rule", "app",
})

# --------------------------------------------------------------------------------------------------------
# The systems. Each: name -> (number of lines in the demo, templates). Slot names are value types below.
# --------------------------------------------------------------------------------------------------------
SYSTEMS: dict[str, tuple[int, tuple[str, ...]]] = {
    "sim-webserver": (380, (
        "start worker process {pid}",
        "worker process {pid} exited on signal {sig}",
        "signal process started",
        "gracefully shutting down",
        'using the "epoll" event method',
        "{int} worker_connections are not enough",
        "client {ip} closed keepalive connection",
        'open() "{fspath}" failed (2: No such file or directory), client: {ip}, server: {host}',
        "connect() failed (111: Connection refused) while connecting to upstream, client: {ip}, "
        'server: {host}, request: "{method} {path} HTTP/1.1", upstream: "http://{ip}:{sport}{path}"',
        "upstream timed out (110: Connection timed out) while reading response header from upstream, "
        "client: {ip}, server: {host}",
        'limiting requests, excess: {float} by zone "{zone}", client: {ip}',
        "SSL_do_handshake() failed (SSL: error:{hex8}:SSL routines::wrong version number) while SSL "
        "handshaking, client: {ip}, server: 0.0.0.0:443",
        'access forbidden by rule, client: {ip}, server: {host}, request: "{method} {path} HTTP/1.1"',
        "client intended to send too large body: {bytes} bytes, client: {ip}",
            '{ip} "{method} {path} HTTP/1.1" {status} {bytes} {secs}',
        "an upstream response is buffered to a temporary file {fspath} while reading upstream",
        "epoll_wait() reported that client prematurely closed connection, so upstream connection is "
        "closed too while sending request to upstream",
        "health check of upstream {ip}:{sport} passed in {int} ms",
        "health check of upstream {ip}:{sport} failed with status {status}",
        'directory index of "{fspath}" is forbidden',
        "could not build optimal server_names_hash, you should increase server_names_hash_bucket_size: {int}",
        "reconfiguring: {int} servers, {int} locations",
    )),
    "sim-orchestrator": (320, (
        "Successfully assigned {ns}/{pod} to {node}",
        "Attempting to schedule pod: {ns}/{pod}",
        'Unable to schedule pod; no fit; waiting pod="{ns}/{pod}" err="0/{int} nodes are available: '
        '{int} Insufficient cpu, {int} Insufficient memory."',
        'Pod {ns}/{pod} is bound successfully on node "{node}", {int} evaluated nodes',
        "Started container {container}",
        'Pulling image "registry.example.com/{app}:{version}"',
        'Successfully pulled image "registry.example.com/{app}:{version}" in {dur}',
        "Back-off restarting failed container {container} in pod {pod}_{ns}({uuid})",
        "Liveness probe failed: HTTP probe failed with statuscode: {status}",
        'Readiness probe failed: Get "http://{ip}:{sport}/healthz": context deadline exceeded',
        "Killing container with id containerd://{hex16}",
        "Scaled up replica set {rs} to {small}",
        "Scaled down replica set {rs} to {small}",
        "Node {node} status is now: NodeNotReady",
        "Node {node} status is now: NodeReady",
        "Evicting pod {ns}/{pod} from node {node}",
        "Created pod: {pod}",
        "Deleted pod: {pod}",
        "Preemption is not helpful for scheduling",
        'AttachVolume.Attach succeeded for volume "{pvc}"',
        'MountVolume.SetUp succeeded for volume "{pvc}"',
        "successfully acquired lease kube-system/sim-scheduler",
        "Memory cgroup out of memory: Killed process {pid} ({container}) total-vm:{int}kB, "
        "anon-rss:{int}kB, file-rss:{int}kB",
        "Syncing replica set {ns}/{rs} took {dur}",
    )),
    "sim-database": (300, (
        "connection received: host={ip} port={port}",
        "connection authorized: user={user} database={db}",
        "disconnection: session time: {hms} user={user} database={db} host={ip} port={port}",
        "duration: {float} ms statement: SELECT * FROM {table} WHERE id = {int}",
        "checkpoint starting: time",
        "checkpoint complete: wrote {int} buffers ({float}%); {small} WAL file(s) added, {small} removed, "
        "{small} recycled; write={float} s, sync={float} s, total={float} s",
        'automatic vacuum of table "{db}.public.{table}": index scans: {small}',
        'automatic analyze of table "{db}.public.{table}" system usage: CPU: user: {float} s, '
        "system: {float} s, elapsed: {float} s",
        'password authentication failed for user "{user}"',
        "database system is ready to accept connections",
        "could not receive data from client: Connection reset by peer",
        "unexpected EOF on client connection with an open transaction",
        "deadlock detected",
        "Process {pid} waits for ShareLock on transaction {int}; blocked by process {pid}.",
        'relation "{table}" does not exist at character {small}',
        'duplicate key value violates unique constraint "{table}_pkey"',
        'temporary file: path "base/pgsql_tmp/pgsql_tmp{pid}.{small}", size {bytes}',
        "canceling statement due to statement timeout",
        "terminating connection due to idle-in-transaction timeout",
        "redo starts at {lsn}",
        "archive command failed with exit code {small}",
        "server process (PID {pid}) was terminated by signal 9: Killed",
    )),
    "sim-sshd": (320, (
        "Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:{b64}",
        "Accepted password for {user} from {ip} port {port} ssh2",
        "Failed password for {user} from {ip} port {port} ssh2",
        "Failed password for invalid user {user} from {ip} port {port} ssh2",
        "Invalid user {user} from {ip} port {port}",
        "pam_unix(sshd:session): session opened for user {user}(uid={uid}) by (uid=0)",
        "pam_unix(sshd:session): session closed for user {user}",
        "Received disconnect from {ip} port {port}:11: disconnected by user",
        "Disconnected from user {user} {ip} port {port}",
        "Connection closed by authenticating user {user} {ip} port {port} [preauth]",
        "Connection closed by {ip} port {port} [preauth]",
        "error: maximum authentication attempts exceeded for {user} from {ip} port {port} ssh2 [preauth]",
        "Did not receive identification string from {ip} port {port}",
        "Server listening on 0.0.0.0 port 22.",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip} "
        "user={user}",
        "reverse mapping checking getaddrinfo for {host} [{ip}] failed.",
        "Timeout, client not responding from user {user} {ip} port {port}",
        "Received signal 15; terminating.",
    )),
    "sim-javaapp": (260, (
        "Started {cls}Application in {float} seconds (process running for {float})",
        "HikariPool-1 - Connection is not available, request timed out after {int}ms.",
        'Exception in thread "{thread}" java.lang.NullPointerException: Cannot invoke '
        '"com.acme.shop.{cls}.{jmethod}()" because "{var}" is null',
        "at com.acme.shop.{cls}.{jmethod}({cls}.java:{small})",
        "Caused by: java.net.SocketTimeoutException: Read timed out",
        "Completed {status} in {int}ms",
        "Handling {method} {path} traceId={hex16} spanId={hex8}",
        "Cache miss for key {key}, loading from repository",
        "Retrying call to {svc} (attempt {small} of 5) after {int}ms",
        "Circuit breaker '{svc}' changed state from CLOSED to OPEN",
        "Circuit breaker '{svc}' changed state from HALF_OPEN to CLOSED",
        "Pause Young (Normal) (G1 Evacuation Pause) {int}M->{int}M({int}M) {float}ms",
        "Order {int} for customer {uuid} moved to state {state}",
        "Consumer group {grp} rebalanced, assigned partitions: [{topic}-{small}, {topic}-{small}]",
        "... {small} common frames omitted",
        "Tomcat started on port {sport} (http) with context path '/'",
        "Shutdown hook invoked, closing {small} open sessions",
        "Failed to publish event {uuid} to {topic}: Expiring {small} record(s) for {topic}-{small}: "
        "{int} ms has passed since batch creation",
        "Scheduled task {jmethod} took {int} ms",
    )),
    "sim-storage": (220, (
        "PUT object {bucket}/{objkey} size={bytes} etag={hex32} took {int}ms",
        "GET object {bucket}/{objkey} range=bytes={int}-{int} status={status}",
        "replica {small} of shard {shard} synced to {snode} ({bytes} bytes, lag {int}ms)",
        "disk {disk} on {snode} usage {float}% above high watermark 85%",
        "scrub of placement group {pg} finished: {int} objects, {small} errors",
        "heartbeat from {snode} missed for {small}s, marking suspect",
        "node {snode} rejoined cluster at epoch {int}",
        "rebalancing started: moving {int} shards from {snode} to {snode}",
        "checksum mismatch on shard {shard} replica {small}, repairing from {snode}",
        "compaction of segment {seg} done: {bytes} -> {bytes} bytes in {float}s",
        "write quorum not reached for {bucket}/{objkey}: {small}/3 acks",
        "lifecycle rule {rule} expired {int} objects in bucket {bucket}",
        "multipart upload {uuid} completed with {small} parts",
        "slow request on osd.{small}: {float}s, op={method}",
        "journal flushed: seq={int} bytes={bytes}",
        "bucket {bucket} quota exceeded: {bytes} of {bytes} bytes used",
        "placement group {pg} state changed: {pgstate} -> {pgstate}",
        "IO error on {disk}: sector {int}, retrying ({small}/3)",
    )),
}

# Names models give to placeholders when they do not use <*> (the post-processor maps them back).
PLACEHOLDER_NAMES: dict[str, tuple[str, ...]] = {
    "ip": ("ip", "ip_address", "client_ip", "IP"), "port": ("port", "port_number", "client_port"),
    "sport": ("port", "upstream_port"), "path": ("path", "url", "request_path", "uri"),
    "fspath": ("path", "file_path", "file"), "user": ("user", "username", "user_name"),
    "pid": ("pid", "process_id", "PID"), "host": ("host", "server_name", "hostname"),
    "status": ("status", "status_code", "http_status"), "bytes": ("bytes", "size", "num_bytes"),
    "int": ("number", "n", "count", "value"), "small": ("n", "count", "num"),
    "float": ("value", "float", "time"),
    "secs": ("time", "duration", "request_time"), "dur": ("duration", "time"), "uuid": ("uuid", "id"),
    "hex8": ("hex", "code", "id"), "hex16": ("id", "container_id", "trace_id"), "hex32": ("etag", "hash"),
    "app": ("image", "app"), "version": ("tag", "version"), "ns": ("namespace", "ns"),
    "pod": ("pod", "pod_name"), "node": ("node", "node_name"),
    "snode": ("node", "storage_node"), "method": ("method", "http_method"), "table": ("table", "table_name"),
    "db": ("database", "db"), "cls": ("class", "ClassName"), "jmethod": ("method", "method_name"),
}


# Templates whose ground truth follows a convention models rarely guess: a value-looking token kept
# literal ("0.0.0.0 port 22", "signal 9", "of 5", "85%"), variables glued to literals ("<*>kB",
# "<*>Application", "pgsql_tmp<*>.<*>"), a value split into parts ("registry.example.com/<*>:<*>") or a
# word-like value that is a variable (a rate-limit zone name). Every model mostly fails them, which is what
# caps the per-query oracle (as in real log-parsing traces, where ~15% of lines defeat every model).
TRAPS = frozenset({
    "SSL_do_handshake() failed (SSL: error:{hex8}:SSL routines::wrong version number) while SSL "
    "handshaking, client: {ip}, server: 0.0.0.0:443",
    'Unable to schedule pod; no fit; waiting pod="{ns}/{pod}" err="0/{int} nodes are available: '
    '{int} Insufficient cpu, {int} Insufficient memory."',
    "Back-off restarting failed container {container} in pod {pod}_{ns}({uuid})",
    "Memory cgroup out of memory: Killed process {pid} ({container}) total-vm:{int}kB, "
    "anon-rss:{int}kB, file-rss:{int}kB",
    "server process (PID {pid}) was terminated by signal 9: Killed",
    'temporary file: path "base/pgsql_tmp/pgsql_tmp{pid}.{small}", size {bytes}',
    "Server listening on 0.0.0.0 port 22.",
    "Received disconnect from {ip} port {port}:11: disconnected by user",
    "pam_unix(sshd:session): session opened for user {user}(uid={uid}) by (uid=0)",
    "Started {cls}Application in {float} seconds (process running for {float})",
    "HikariPool-1 - Connection is not available, request timed out after {int}ms.",
    "at com.acme.shop.{cls}.{jmethod}({cls}.java:{small})",
    "Pause Young (Normal) (G1 Evacuation Pause) {int}M->{int}M({int}M) {float}ms",
    "Consumer group {grp} rebalanced, assigned partitions: [{topic}-{small}, {topic}-{small}]",
    "Retrying call to {svc} (attempt {small} of 5) after {int}ms",
    "disk {disk} on {snode} usage {float}% above high watermark 85%",
    "write quorum not reached for {bucket}/{objkey}: {small}/3 acks",
    "IO error on {disk}: sector {int}, retrying ({small}/3)",
    'Pulling image "registry.example.com/{app}:{version}"',
    'Successfully pulled image "registry.example.com/{app}:{version}" in {dur}',
    "Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:{b64}",
    'limiting requests, excess: {float} by zone "{zone}", client: {ip}',
    "slow request on osd.{small}: {float}s, op={method}",
    "GET object {bucket}/{objkey} range=bytes={int}-{int} status={status}",
    "placement group {pg} state changed: {pgstate} -> {pgstate}",
    "checkpoint complete: wrote {int} buffers ({float}%); {small} WAL file(s) added, {small} removed, "
    "{small} recycled; write={float} s, sync={float} s, total={float} s",
    'duplicate key value violates unique constraint "{table}_pkey"',
})


def reference_of(template: str) -> str:
    """The ground-truth template: every typed slot becomes ``<*>``."""
    return _SLOT.sub(WILDCARD, template)


def normalize_ws(text: str) -> str:
    return _WS.sub(" ", text).strip()


def slot_types(template: str) -> list[str]:
    return _SLOT.findall(template)


def difficulty(template: str) -> float:
    """More variables make a template harder; word-like variables (kept as literals) count extra."""
    types = slot_types(template)
    return len(types) + 0.8 * sum(t in WORDLIKE for t in types)


# --------------------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------------------
_APPS = ("checkout", "cart", "search", "payments", "catalog", "notifier", "auth", "recommender")
_USERS = ("alice", "bob", "carol", "deploy", "backup", "git", "ubuntu", "jenkins", "svc_etl", "m.rossi",
          "j.chen", "k.okafor", "postgres", "ansible")
_SCAN_USERS = ("admin", "test", "guest", "oracle", "pi", "user1", "support", "ftpuser", "hadoop", "minecraft")
_STATES = ("PAID", "PACKED", "SHIPPED", "CANCELLED", "PENDING", "REFUNDED")
_PGSTATES = ("active+clean", "active+degraded", "active+recovering", "peering", "active+remapped")


class Values:
    """Typed value generators with recurring pools (the same clients, pods and users come back)."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        r = rng
        self.ips = [f"10.{r.randint(0, 3)}.{r.randint(0, 40)}.{r.randint(2, 254)}" for _ in range(40)]
        self.ext_ips = [f"{p}.{r.randint(1, 254)}" for p in ("203.0.113", "198.51.100", "192.0.2")
                        for _ in range(14)]
        self.pods = [f"{a}-{self._alnum(9, lower_hex=True)}-{self._alnum(5)}" for a in _APPS for _ in range(3)]
        self.rss = sorted({p.rsplit("-", 1)[0] for p in self.pods})
        self.uuids = [self._uuid() for _ in range(25)]

    def _alnum(self, n: int, lower_hex: bool = False) -> str:
        alphabet = "0123456789abcdef" if lower_hex else string.ascii_lowercase + string.digits
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def _hex(self, n: int, upper: bool = False) -> str:
        h = "".join(self.rng.choice("0123456789abcdef") for _ in range(n))
        return h.upper() if upper else h

    def _uuid(self) -> str:
        return "-".join(self._hex(n) for n in (8, 4, 4, 4, 12))

    def value(self, kind: str, system: str) -> str:
        r = self.rng
        if kind == "ip":
            return r.choice(self.ext_ips) if (system == "sim-sshd" and r.random() < 0.6) or r.random() < 0.15 \
                else r.choice(self.ips)
        if kind == "port":
            return str(r.randint(1024, 65535))
        if kind == "sport":
            return r.choice(("8080", "8443", "9000", "3000", "5000"))
        if kind == "path":
            return r.choice((
                lambda: f"/api/v1/orders/{r.randint(1000, 99999)}",
                lambda: f"/api/v2/products/{r.randint(1, 5000)}/reviews",
                lambda: f"/static/js/app.{self._hex(8)}.js",
                lambda: f"/images/catalog/{r.randint(100, 999)}.webp",
                lambda: r.choice(("/login", "/logout", "/cart", "/checkout", "/health", "/favicon.ico",
                                  "/wp-login.php", "/.env", "/api/v1/session")),
            ))()
        if kind == "fspath":
            return r.choice((
                lambda: f"/var/www/shop/{r.choice(('static', 'media', 'assets'))}/{self._alnum(6)}.css",
                lambda: (f"/var/cache/nginx/proxy_temp/{r.randint(0, 9)}/{r.randint(10, 99)}/"
                         f"00000{r.randint(10000, 99999)}"),
                lambda: f"/usr/share/nginx/html/{r.choice(('robots.txt', 'sitemap.xml', 'ads.txt', 'old/'))}",
            ))()
        if kind == "host":
            return r.choice(("shop.example.com", "api.example.com", "admin.example.net", "cdn.example.org",
                             "mail.example.com", "vpn.example.net"))
        if kind == "status":
            return r.choices(("200", "201", "204", "301", "304", "400", "401", "403", "404", "429", "500",
                              "502", "503", "504"), weights=(30, 4, 3, 3, 5, 3, 3, 3, 8, 2, 3, 3, 2, 2))[0]
        if kind == "bytes":
            return str(int(r.lognormvariate(8, 2)) + 1)
        if kind == "int":
            return str(int(r.lognormvariate(4, 1.5)) + 1)
        if kind == "small":
            return str(r.randint(0, 12))
        if kind == "float":
            return f"{r.lognormvariate(1, 1.2):.3f}"
        if kind == "secs":
            return f"{r.lognormvariate(-3, 1.3):.3f}"
        if kind == "dur":
            v = r.lognormvariate(0.5, 1.2)
            return f"{v:.3f}s" if v >= 1 else f"{v * 1000:.0f}ms"
        if kind == "pid":
            return str(r.randint(300, 65000))
        if kind == "uid":
            return str(r.choice((1000, 1001, 1002, 1005, 2001, 110)))
        if kind == "sig":
            return r.choice(("9", "11", "6", "15"))
        if kind in ("hex8", "hex16", "hex32"):
            return self._hex(int(kind[3:]), upper=kind == "hex8")
        if kind == "uuid":
            return r.choice(self.uuids) if r.random() < 0.3 else self._uuid()
        if kind == "user":
            return r.choice(_SCAN_USERS) if r.random() < 0.35 else r.choice(_USERS)
        if kind == "method":
            return r.choices(("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"), weights=(50, 20, 8, 5, 4, 3))[0]
        if kind == "zone":
            return r.choice(("per_ip", "api_burst", "login_limit"))
        if kind == "ns":
            return r.choice(("default", "payments", "checkout", "monitoring", "search", "ingress", "batch"))
        if kind == "pod":
            return r.choice(self.pods)
        if kind == "rs":
            return r.choice(self.rss)
        if kind == "node":
            return f"worker-{r.randint(1, 24):02d}"
        if kind == "snode":
            return f"stor-{r.choice('abc')}{r.randint(1, 12):02d}"
        if kind == "container":
            return r.choice(("api", "worker", "sidecar", "proxy", "redis", "log-shipper", "migrate"))
        if kind == "app":
            return r.choice(_APPS)
        if kind == "version":
            return f"{r.randint(1, 3)}.{r.randint(0, 20)}.{r.randint(0, 9)}"
        if kind == "pvc":
            return "pvc-" + self._uuid()
        if kind == "db":
            return r.choice(("shop", "analytics", "auth", "inventory"))
        if kind == "table":
            return r.choice(("orders", "customers", "line_items", "sessions", "payments", "audit_log", "products"))
        if kind == "hms":
            return f"{r.randint(0, 2)}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{r.randint(0, 999):03d}"
        if kind == "lsn":
            return f"{r.randint(0, 3)}/{self._hex(r.randint(7, 8), upper=True)}"
        if kind == "b64":
            return "".join(r.choice(string.ascii_letters + string.digits + "+/") for _ in range(43))
        if kind == "cls":
            return r.choice(("OrderService", "PaymentClient", "InventoryRepository", "CheckoutController",
                             "ShippingGateway", "PricingEngine"))
        if kind == "jmethod":
            return r.choice(("getCustomer", "reserveStock", "calculateTotal", "submitOrder", "findById",
                             "applyDiscount", "refreshRates"))
        if kind == "var":
            return r.choice(("customer", "order", "cart", "session", "item"))
        if kind == "thread":
            return r.choice((f"http-nio-8080-exec-{r.randint(1, 40)}", "scheduling-1",
                             f"kafka-consumer-{r.randint(0, 7)}", "main"))
        if kind == "key":
            return r.choice((f"customer:{r.randint(1, 90000)}", f"sku:{self._alnum(8).upper()}",
                             f"price:{r.choice(('EUR', 'USD', 'GBP'))}"))
        if kind == "svc":
            return r.choice(("inventory-service", "payment-gateway", "shipping-api", "pricing", "fraud-check"))
        if kind == "state":
            return r.choice(_STATES)
        if kind == "topic":
            return r.choice(("orders.created", "payments.settled", "stock.reserved", "emails.outbound"))
        if kind == "grp":
            return r.choice(("order-workers", "billing-consumers", "audit-sink"))
        if kind == "bucket":
            return r.choice(("media-prod", "backups-2024", "logs-archive", "user-uploads", "ml-datasets"))
        if kind == "objkey":
            return r.choice((
                lambda: f"uploads/2024/{r.randint(1, 12):02d}/{self._hex(10)}.jpg",
                lambda: f"db/base-{r.randint(100, 999)}.tar.zst",
                lambda: f"runs/{self._alnum(6)}/metrics.parquet",
            ))()
        if kind == "shard":
            return f"sh{r.randint(0, 4095):04d}"
        if kind == "disk":
            return r.choice((f"/dev/sd{r.choice('abcdefgh')}", f"/dev/nvme{r.randint(0, 3)}n1"))
        if kind == "pg":
            return f"{r.randint(1, 9)}.{self._hex(2)}"
        if kind == "pgstate":
            return r.choice(_PGSTATES)
        if kind == "seg":
            return f"seg-{r.randint(1, 999999):06d}"
        if kind == "rule":
            return r.choice(("expire-tmp", "logs-90d", "abort-multipart-7d"))
        raise KeyError(f"no value generator for slot type '{kind}'")


def fill(template: str, values: Values, system: str) -> tuple[str, list[str]]:
    """A log line from `template` and the values used, in slot order."""
    used: list[str] = []

    def repl(m: re.Match) -> str:
        v = values.value(m.group(1), system)
        used.append(v)
        return v

    return _SLOT.sub(repl, template), used


# --------------------------------------------------------------------------------------------------------
# What models answer
# --------------------------------------------------------------------------------------------------------
ERROR_KINDS = ("under", "over", "merge", "drop", "tail")


@dataclass(frozen=True)
class Piece:
    literal: str | None      # a literal chunk, or None for a variable
    kind: str = ""           # slot type of a variable


def pieces(template: str) -> list[Piece]:
    out, pos = [], 0
    for m in _SLOT.finditer(template):
        if m.start() > pos:
            out.append(Piece(template[pos:m.start()]))
        out.append(Piece(None, m.group(1)))
        pos = m.end()
    if pos < len(template):
        out.append(Piece(template[pos:]))
    return out


def wrong_template(template: str, values: list[str], kind: str, rng: random.Random) -> str:
    """A realistic wrong answer for a line of `template` (in ``<*>`` form), of error `kind`.

    under: a variable kept as its literal value (word-like ones first);  over: a literal token turned into
    ``<*>``;  merge: two variables and the separator between them collapsed into one;  drop: a literal word
    left out;  tail: everything after the first colon generalised into one ``<*>``.
    Returns "" when the kind does not apply to this template.
    """
    ps = pieces(template)
    var_idx = [i for i, p in enumerate(ps) if p.literal is None]
    if kind == "under":
        if not var_idx:
            return ""
        weights = [3.0 if ps[i].kind in WORDLIKE else 1.0 for i in var_idx]
        pick = rng.choices(var_idx, weights=weights)[0]
        vals = iter(values)
        out = []
        for i, p in enumerate(ps):
            if p.literal is not None:
                out.append(p.literal)
            else:
                v = next(vals)
                out.append(v if i == pick else WILDCARD)
        return "".join(out)
    ref = reference_of(template)
    tokens = ref.split(" ")
    if kind == "over":
        # The first word is an event name models keep, unless it looks like a value.
        cands = [i for i, t in enumerate(tokens) if WILDCARD not in t and any(c.isalnum() for c in t)
                 and (i > 0 or any(c.isdigit() for c in t))]
        if len(cands) < 2:
            return ""
        # Tokens with digits or capitals look like values and get generalised first.
        weights = [3.0 if any(c.isdigit() for c in tokens[i]) or tokens[i][:1].isupper() else 1.0 for i in cands]
        i = rng.choices(cands, weights=weights)[0]
        tokens[i] = WILDCARD
        return " ".join(tokens)
    if kind == "drop":
        cands = [i for i, t in enumerate(tokens) if i > 0 and WILDCARD not in t]
        if not cands:
            return ""
        del tokens[rng.choice(cands)]
        return " ".join(tokens)
    if kind == "merge":
        merged = re.sub(r"<\*>(?:[:/._-]| |\.public\.|-|\()<\*>", WILDCARD, ref, count=1)
        if merged == ref:
            merged = re.sub(r"<\*>\s?(?:ms|s|kB|M|%|bytes)\b", WILDCARD, ref, count=1)
        return merged if merged != ref else ""
    if kind == "tail":
        head, sep, _ = ref.partition(": ")
        balanced = head.count("(") == head.count(")") and head.count('"') % 2 == 0
        return f"{head}: {WILDCARD}" if sep and balanced and WILDCARD not in head and len(head) > 4 else ""
    raise ValueError(kind)


_PREFIXES = ("", "", "", "Template: ", "Log template: ", "template: ")
_JUNK_LINES = (
    "\nVariables: {names}",
    "\n\nExplanation: the variable parts ({names}) were replaced with placeholders.",
    "\n(variables: {names})",
    "\nNote: {names} change between lines.",
    "</s>",
    "\n\n### Log line:",
    "\nDone.",
)
_CHATTY_PREFIXES = ("Sure! The template is: ", "Here is the log template:\n", "The template for this log is ",
                    "Answer:\n")


def render_raw(answer: str, slot_kinds: list[str], style: dict, rng: random.Random) -> str:
    """The raw completion a model writes for the template `answer` (``<*>`` form).

    `style` carries the model's habits: probability of named placeholders, of quoting, of a chatty prefix
    the simple post-processor does not strip, and of trailing junk.
    """
    text = answer
    names = []
    if rng.random() < style["named"]:
        kinds = iter(slot_kinds)

        def name_for(_: re.Match) -> str:
            k = next(kinds, "var")
            n = rng.choice(PLACEHOLDER_NAMES.get(k, (k,)))
            names.append(n)
            return "{" + n + "}"

        # Only name as many placeholders as there are slots; merged/over answers have a different count.
        if answer.count(WILDCARD) == len(slot_kinds):
            text = re.sub(re.escape(WILDCARD), name_for, answer)
    if rng.random() < style["quote"]:
        q = rng.choice(('"', "`", "'"))
        text = f"{q}{text}{q}"
    junk = rng.random() < style["junk"]
    if junk and rng.random() < 0.35:
        text = rng.choice(_CHATTY_PREFIXES) + text
    else:
        text = rng.choice(_PREFIXES) + text
        if junk:
            text += rng.choice(_JUNK_LINES).format(names=", ".join(names or ["the numbers"]))
    if rng.random() < 0.15:
        text = " " + text + rng.choice((" ", "\n", "  \n"))
    return text


_NAMED = re.compile(r"\{[^{}\n]{1,40}\}")
_ANGLE = re.compile(r"<(?!\*>)[A-Za-z_][A-Za-z0-9_ ]{0,30}>")
_PREFIX = re.compile(r"^(?:log\s+)?template\s*:\s*", re.IGNORECASE)


def postprocess(raw: str) -> str:
    """The simple post-processing recorded as `output` (deliberately naive, like the real traces'):
    strip a ``Template:`` prefix and one pair of enclosing quotes, map ``{name}``/``<name>`` placeholders
    to ``<*>`` and collapse whitespace. Anything else the model wrote stays in."""
    s = _PREFIX.sub("", raw.strip())
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'`":
        s = s[1:-1]
    s = _NAMED.sub(WILDCARD, s)
    s = _ANGLE.sub(WILDCARD, s)
    return normalize_ws(s)
