"""``edgekit devices``: known device specs; ``edgekit devices profile MODEL URI...``: a fleet table."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgekit.cli._console import console, table, write_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("devices", help="list known device specs, or profile a model on several devices")
    inner = p.add_subparsers(dest="devices_command")
    prof = inner.add_parser("profile", help="profile MODEL on every URI concurrently")
    prof.add_argument("model", type=Path)
    prof.add_argument("uris", nargs="+", help="local, ssh://user@host[:port], adb://SERIAL")
    prof.add_argument("--key", type=Path)
    prof.add_argument("--known-hosts", type=Path)
    prof.add_argument("--delegate", default="auto")
    prof.add_argument("--threads", type=int)
    prof.add_argument("--runs", type=int, default=50)
    prof.add_argument("--affinity", help="pin each run to these CPUs, like taskset: 4-7 or 0,2")
    prof.add_argument("--json", dest="json_out", type=Path)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgekit.devices import profile_many, specs

    if getattr(args, "devices_command", None) != "profile":
        spec_rows = [
            (s.name, s.arch, s.cpu or "", s.cores or "", " ".join(s.isa), " ".join(s.delegates))
            for s in specs().values()
        ]
        console.print(table("known devices", ["name", "arch", "cpu", "cores", "ISA", "delegates"], spec_rows))
        return 0
    options = {"key": args.key, "known_hosts": args.known_hosts}
    with console.status(f"profiling {args.model.name} on {len(args.uris)} device(s)"):
        results = profile_many(
            args.model,
            args.uris,
            connect_options=options,
            delegate=args.delegate,
            threads=args.threads,
            runs=args.runs,
            affinity=args.affinity,
        )
    rows: list[tuple[object, ...]] = []
    for r in results:
        if r.ok and r.profile is not None:
            p = r.profile
            rows.append(
                (
                    r.uri,
                    p.cpu.get("arch"),
                    " ".join(p.cpu.get("flags", [])),
                    p.runtime,
                    p.delegate,
                    f"{p.p50_ms:.3f}",
                    f"{p.p90_ms:.3f}",
                    "yes" if p.extra.get("emulated") else "no",
                    "",
                )
            )
        else:
            rows.append((r.uri, "", "", "", "", "", "", "", r.error))
    console.print(
        table(
            f"{args.model.name} on the fleet",
            ["device", "arch", "flags", "runtime", "delegate", "p50 ms", "p90 ms", "emulated", "error"],
            rows,
        )
    )
    if args.json_out:
        write_json(
            args.json_out,
            [
                {"uri": r.uri, "error": r.error, "profile": r.profile.to_dict() if r.profile else None}
                for r in results
            ],
        )
    return 0 if all(r.ok for r in results) else 1
