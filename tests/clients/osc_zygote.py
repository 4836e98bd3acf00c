"""Runs `openstack` commands in forked children of one process that has already imported
the CLI, so each command skips the ~1.3 s of imports of a fresh `openstack` process.

Each command still runs in its own process, through the same entry point as the `openstack`
console script (`openstackclient.shell.main`), with nothing shared between commands but the
imported modules. Set VPNAAS_CLIENTS_NO_ZYGOTE=1 to run the real `openstack` executable
instead (slower, same results).

Protocol: one JSON object per line on stdin, {"argv": [...], "stdout": PATH, "stderr": PATH,
"timeout": SECONDS};
the answer is one line {"rc": N} on stdout once the command has finished.
"""

import importlib
import json
import os
import signal
import sys


def child(argv, out_path, err_path, timeout):
    signal.alarm(timeout)  # a hung command dies of SIGALRM (exit code -14)
    devnull = os.open(os.devnull, os.O_RDONLY)
    out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    sys.argv = ["openstack", *argv]
    rc = 1
    try:
        from openstackclient.shell import main

        rc = main(argv)
    except SystemExit as e:  # argparse errors and --help
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - report like the interpreter would
        import traceback

        traceback.print_exc()
        rc = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(rc if isinstance(rc, int) else 1)


def main():
    # what every command imports anyway; done once here
    import openstackclient.shell  # noqa: F401
    import openstack.connection  # noqa: F401
    import openstack.network.v2._proxy  # noqa: F401

    for module in (  # the VPN and router/subnet commands of either client set, if present
        "openstackclient.network.v2.vpnaas.ipsec_site_connection",
        "neutronclient.osc.v2.vpnaas.ipsec_site_connection",
        "openstackclient.network.v2.router",
        "openstackclient.network.v2.subnet",
    ):
        try:
            importlib.import_module(module)
        except ImportError:
            pass

    proto_in, proto_out = sys.stdin, sys.stdout
    for line in proto_in:
        if not line.strip():
            continue
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            child(req["argv"], req["stdout"], req["stderr"], int(req.get("timeout", 90)))
        _, status = os.waitpid(pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        proto_out.write(json.dumps({"rc": rc}) + "\n")
        proto_out.flush()


if __name__ == "__main__":
    main()
