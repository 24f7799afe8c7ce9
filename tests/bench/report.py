"""The benchmark's results (bench-<N>.json) as the README's performance
section: a table of every phase beside its baseline, and the performance
targets (docs/behaviour.md) with what was measured."""
import glob
import json
import math
import os
import re
import textwrap

SECTION = "## Performance"
PHASES = [
    ("full_scan", "full scan"),
    ("idle_daemon", "idle cycle (daemon)"),
    ("idle_once", "idle run (`--once`)"),
    ("incremental", "incremental, 1% changed"),
    ("import", "full import"),
    ("writeback", "write-back of all"),
    ("first_push", "first push of all profiles"),
    ("lost_store", "new node, empty store (a failover): scan, list, link, compare"),
    ("updates", "1,000 profile updates"),
    ("creates", "creates"),
    ("deactivations", "deactivations"),
    ("groups_full", "full scan, scope group of half the users (3 levels)"),
    ("groups_incremental", "incremental, 100 added to a nested group"),
    ("groups_idle", "idle run with a scope group"),
]
BASELINE = {
    "full_scan": "ldapsearch",
    "idle_daemon": "ldapsearch rootDSE",
    "idle_once": "ldapsearch rootDSE",
    "incremental": "ldapsearch + bulk client",
    "import": "paging client",
    "writeback": "ldapmodify",
    "groups_full": "ldapsearch in-chain",
    "groups_incremental": "ldapsearch in-chain",
    "groups_idle": "ldapsearch rootDSE",
}


def secs(v):
    if v is None:
        return "-"
    if v < 0.01:
        return "%.1f ms" % (v * 1000)
    if v < 10:
        return "%.2f s" % v
    return "%.0f s" % v


def mib(kib):
    return "%.0f" % (kib / 1024) if kib is not None else "-"


def rss(p):
    r = p.get("rss_kib") or {}
    if "VmHWM" in r:
        return "%s MB (%s anon, %s file)" % (mib(r["VmHWM"]), mib(r.get("RssAnon")),
                                             mib(r.get("RssFile")))
    if p.get("hwm_kib"):
        return "%s MB (run)" % mib(p["hwm_kib"])
    return "-"


def ops(d):
    if not d:
        return "0"
    order = [("search", "s"), ("modify", "m"), ("bind", "b"), ("add", "a"), ("delete", "d"),
             ("extended", "x"), ("abandon", "ab")]
    return " ".join("%s%d" % (abbr, d[k]) for k, abbr in order if d.get(k))


def api(d):
    if not d or not d.get("calls"):
        return "0"
    g = d.get("groups", {})
    return " ".join("%s%d" % (k[0], g[k]) for k in ("Light", "Medium", "Heavy", "Auth")
                    if g.get(k))


def n429(p):
    ours = (p.get("api") or {}).get("429", 0)
    if p.get("baseline_api"):
        return "%d / %d" % (ours, p["baseline_api"].get("429", 0))
    return "%d" % ours


def peaks(r):
    """Each phase's peak RSS in KiB: VmHWM when it ended, or of its run."""
    out = {}
    for key, _ in PHASES:
        p = r["phases"].get(key)
        if not p:
            continue
        v = max((p.get("rss_kib") or {}).get("VmHWM", 0), p.get("hwm_kib") or 0)
        if v:
            out[key] = v
    return out


def every_phase_row(n, r):
    pk = peaks(r)
    if not pk:
        return None
    key = max(pk, key=pk.get)
    return "| %s | every phase: the highest peak | - | - | - | %s MB (%s) | - | - | - |" % (
        "{:,}".format(n), mib(pk[key]), dict(PHASES)[key])


def row(n, key, name, p):
    base = p.get("baseline_s")
    ratio = "%.2f" % (p["ringsyncd_s"] / base) if base else "-"
    if key == "updates":
        base_txt = "%d Heavy one per user (>= %d min)" % (p["per_user_heavy"],
                                                          p["per_user_min_minutes_default"])
        ratio = "%d vs %d Heavy" % (p["heavy"], p["per_user_heavy"])
    elif key in ("first_push", "lost_store", "creates", "deactivations"):
        base_txt = "-"
    else:
        base_txt = "%s %s" % (secs(base), BASELINE[key])
    ldap = ops(p.get("ldap"))
    if p.get("baseline_ldap"):
        ldap += " / " + ops(p["baseline_ldap"])
    calls = api(p.get("api"))
    if p.get("baseline_api"):
        calls += " / " + api(p["baseline_api"])
    return "| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        "{:,}".format(n), name, secs(p.get("ringsyncd_s")), base_txt, ratio, rss(p), ldap,
        calls, n429(p))


def targets(results):
    lines = ["| target ([docs/behaviour.md](docs/behaviour.md#performance-targets)) | measured | |", "|---|---|---|"]
    big = results[max(results)]
    n = big["users"]
    f = big["phases"].get("full_scan")
    if f:
        ratio = f["ringsyncd_s"] / f["baseline_s"]
        lines.append("| full scan of %s users within 1.5x of ldapsearch | %.2fx (%s vs %s) | %s |"
                     % ("{:,}".format(n), ratio, secs(f["ringsyncd_s"]), secs(f["baseline_s"]),
                        "met" if ratio <= 1.5 else "**missed**"))
    hwm = {k: r["phases"]["full_scan"]["rss_kib"] for k, r in sorted(results.items())
           if r["phases"].get("full_scan", {}).get("rss_kib")}
    if hwm:
        total = [v["VmHWM"] for v in hwm.values()]
        anon = [v.get("RssAnon", 0) for v in hwm.values()]
        # flat: under 64 MB, and ten times the users (the two largest sizes)
        # cost at most a quarter more; the smallest store is smaller than
        # what the store may keep mapped between two trims, so it is not the
        # base to compare with.
        flat = max(total) <= 64 * 1024 and (len(total) < 2 or
                                            total[-1] <= 1.25 * total[-2])
        files = [v.get("RssFile", 0) for v in hwm.values()]
        lines.append("| full scan peak RSS under 64 MB, flat in users | VmHWM %s MB at %s "
                     "users; of it anonymous %s MB, file-backed (the libraries and the "
                     "store's pages mapped since the last trim) %s MB | %s |" % (
                         " / ".join(mib(t) for t in total),
                         " / ".join("{:,}".format(k) for k in hwm),
                         " / ".join(mib(a) for a in anon),
                         " / ".join(mib(f) for f in files),
                         ("met: %s to %s users adds %s MB" % (
                             "{:,}".format(list(hwm)[-2]), "{:,}".format(list(hwm)[-1]),
                             mib(total[-1] - total[-2])) if len(total) >= 2 else "met")
                         if flat else "**missed**: %s" % (
                             "over 64 MB" if max(total) > 64 * 1024 else
                             "ten times the users cost more than a quarter more")))
    worst = {k: max(peaks(r).values()) for k, r in sorted(results.items()) if peaks(r)}
    if worst:
        sizes = list(worst)
        top = worst[sizes[-1]]
        # flat as the full scan's: the two largest sizes, a quarter at most
        flat = len(sizes) < 2 or top <= 1.25 * worst[sizes[-2]]
        lines.append("| peak RSS under 32 MB in every phase at %s users, flat from %s | the "
                     "highest peak of any phase %s MB at %s users | %s |" % (
                         "{:,}".format(sizes[-1]), "{:,}".format(sizes[-2]) if len(sizes) > 1
                         else "-", " / ".join(mib(worst[k]) for k in sizes),
                         " / ".join("{:,}".format(k) for k in sizes),
                         "met" if top < 32 * 1024 and flat else "**missed**: %s" % (
                             "%s MB" % mib(top) if top >= 32 * 1024 else
                             "ten times the users cost more than a quarter more")))
    idle = [r["phases"].get("idle_daemon") for r in results.values() if r["phases"].get(
        "idle_daemon")]
    if idle:
        worst = max(sum(v for k, v in p["ldap"].items() if k == "search") for p in idle)
        calls = max(p["api"]["calls"] for p in idle)
        lines.append("| idle cycle: 2 LDAP searches, 0 API calls | %d search, %d API calls "
                     "(running daemon); a `--once` run adds its connect: bind + 3 reads | %s |"
                     % (worst, calls, "met" if worst <= 2 and calls == 0 else "**missed**"))
    rows = []
    ok = True
    for r in results.values():
        u = r["phases"].get("updates")
        if u:
            ok &= u["heavy"] == u["expected_heavy"]
            rows.append("%s updates: %d Heavy" % ("{:,}".format(u["updates"]), u["heavy"]))
        d = r["phases"].get("deactivations")
        if d:
            h = d["api"]["groups"].get("Heavy", 0)
            ok &= h == d["expected_heavy"]
            rows.append("%d deactivations: %d Heavy" % (d["deactivations"], h))
    if rows:
        lines.append("| updates and deactivations ceil(n/500) Heavy + task polls | %s | %s |" %
                     ("; ".join(sorted(set(rows))), "met" if ok else "**missed**"))
    rows, ok = [], True
    for r in results.values():
        c = r["phases"].get("creates")
        if c:
            h = c["api"]["groups"].get("Heavy", 0)
            ok &= h == c["creates"]
            rows.append("%d creates: %d Heavy" % (c["creates"], h))
    if rows:
        lines.append("| creates 1 Heavy call each | %s | %s |" % (
            "; ".join(sorted(set(rows))), "met" if ok else "**missed**"))
    rows, ok = [], True
    for k, r in sorted(results.items()):
        i = r["phases"].get("import")
        if i:
            exts = i["records"][1]       # every user extension, free ones too
            m, h = i["api"]["groups"].get("Medium", 0), i["api"]["groups"].get("Heavy", 0)
            b = i["baseline_api"]["groups"].get("Heavy", 0)
            # the extensions, then the directory (the k users; 1,000 a page
            # at the emulator's default), and no Heavy call
            want = (math.ceil(exts / 1000) + math.ceil(k / 1000), 0)
            ok &= (m, h) == want
            rows.append("%s: %d Medium + %d Heavy (the number list: %d Heavy)"
                        % ("{:,}".format(k), m, h, b))
    if rows:
        lines.append("| import ceil(extensions/1000) + ceil(users/1000) Medium (the extension list, the directory), no Heavy | %s | %s |" %
                     ("; ".join(rows), "met" if ok else "**missed**"))
    rows, ok = [], True
    for k, r in sorted(results.items()):
        e = r["phases"].get("edit_latency")
        if e and "import" in e and "no_import" in e:
            a, b = e["no_import"], e["import"]
            ok &= b["p50_s"] <= 1.5 * a["p50_s"] + 0.25 and b["p99_s"] <= 1.5 * a["p99_s"] + 0.25
            rows.append("%s: p50 %s / p99 %s with imports (%d of %d edits while its reads ran), "
                        "p50 %s / p99 %s without" % (
                            "{:,}".format(k), secs(b["p50_s"]), secs(b["p99_s"]),
                            b["edits_during_import_reads"], b["n"], secs(a["p50_s"]),
                            secs(a["p99_s"])))
    if rows:
        lines.append("| an import never makes an AD edit wait: edit -> phone p50 and p99 with "
                     "imports running within 1.5x (+0.25 s) of without | %s | %s |" % (
                         "; ".join(rows), "met" if ok else "**missed**"))
    total429 = 0
    for r in results.values():
        for p in r["phases"].values():
            total429 += (p.get("api") or {}).get("429", 0)
    lines.append("| zero 429 at the default limits | %d in every ringsyncd run | %s |" % (
        total429, "met" if total429 == 0 else "**missed**"))
    return lines


def create_methods(results):
    """The three create methods side by side (measured at one size)."""
    for n in sorted(results):
        cm = results[n]["phases"].get("create_methods")
        if not cm:
            continue
        window = results[n].get("window", 60)
        out = ["", "Creates by `create_method` (%s new users each, at %s users, the default "
               "limits per %d s window; the time at the production window would be "
               "%g times longer):" % ("{:,}".format(next(iter(cm.values()))["creates"]),
                                      "{:,}".format(n), window, 60 / window), "",
               "| create_method | time | API calls | per create |", "|---|---|---|---|"]
        for method in ("scim", "extension", "batch"):
            p = cm.get(method)
            if not p:
                continue
            g = p["api"].get("groups", {})
            c = p["creates"]
            per = ", ".join("%s %.2f" % (k[0], g[k] / c) for k in ("Light", "Medium", "Heavy")
                            if g.get(k))
            out.append("| %s | %s | %s | %s |" % (method, secs(p["ringsyncd_s"]), api(p["api"]),
                                                 per))
        return out
    return []


def render(results):
    m = results[max(results)]["machine"]
    window = results[max(results)].get("window", 60)
    dates = {}
    for n in sorted(results):
        dates.setdefault(results[n]["machine"]["date"], []).append("{:,}".format(n))
    when = "; ".join("%s users on %s" % (" and ".join(v), k) for k, v in dates.items()) \
        if len(dates) > 1 else "on " + m["date"]
    out = [SECTION, "",
           "Measured with `tests/bench/run-bench.sh` ([tests/bench/README.md](tests/bench/README.md)"
           " explains each figure and baseline), %s: %d cores (%s), %s GiB RAM, Samba %s, "
           "Linux %s." % (when, m["nproc"], m["cpu"], m["ram_gib"], m["samba"], m["kernel"]),
           "ringsyncd, a throwaway Samba AD DC and the phone-API emulator share the machine; "
           "the emulator applies the default rate limits (Light 50, Medium 40, Heavy 10, "
           "Auth 5) per %d s window%s." % (
               window, " (the production 60 s window compressed: the same calls per window, "
                       "%g times faster)" % (60 / window) if window != 60 else ""),
           "",
           "| users | phase | ringsyncd | baseline | ratio | peak RSS | LDAP ops ringsyncd "
           "/ baseline | API calls ringsyncd / baseline | 429 ringsyncd / baseline |",
           "|---|---|---|---|---|---|---|---|---|"]
    for n in sorted(results):
        for key, name in PHASES:
            p = results[n]["phases"].get(key)
            if p:
                out.append(row(n, key, name, p))
        every = every_phase_row(n, results[n])
        if every:
            out.append(every)
    out += create_methods(results)
    out += ["",
            "LDAP operations: s search requests (a paged search sends one per page), "
            "m modify, b bind. API calls by rate group: L Light, M Medium, H Heavy, A Auth. "
            "Peak RSS: VmHWM when the phase ended (anonymous and file-backed parts at that "
            "moment), or, marked (run), VmHWM at the run's last summary line. The peak "
            "includes the store's pages mapped between two trims (every 16 reads and "
            "writes: at most 1 MB, 64 KB a fault), which the parts at the end no longer "
            "show.",
            ""] + targets(results) + [""]
    # prose wrapped like the rest of the README; tables as they are
    lines = []
    for line in out:
        if line.startswith("|") or len(line) <= 90:
            lines.append(line)
        else:
            lines += textwrap.wrap(line, 90, break_on_hyphens=False)
    return "\n".join(lines) + "\n"


def update_readme(path, section):
    section = section.rstrip("\n") + "\n"
    with open(path) as f:
        text = f.read()
    start = text.find("\n" + SECTION + "\n")
    if start >= 0:
        nxt = re.search(r"^## ", text[start + len(SECTION) + 2:], re.M)
        end = start + len(SECTION) + 2 + nxt.start() if nxt else len(text)
        text = text[:start + 1] + section + "\n" + text[end:]
    else:
        tests = text.find("\n## Tests\n")
        if tests < 0:
            text = text.rstrip("\n") + "\n\n" + section
        else:
            text = text[:tests + 1] + section + "\n" + text[tests + 1:]
    with open(path, "w") as f:
        f.write(text)


def main(args):
    results = {}
    for path in glob.glob(os.path.join(args.out, "bench-*.json")):
        with open(path) as f:
            r = json.load(f)
        results[r["users"]] = r
    if not results:
        print("no results in %s" % args.out)
        return 1
    update_readme(args.readme, render(results))
    print("wrote the %s section of %s" % (SECTION, args.readme))
    return 0
