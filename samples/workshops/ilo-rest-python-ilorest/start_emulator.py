"""Start this workshop's Redfish emulator over HTTPS, making its self-signed certificate first.

python-ilorest-library speaks only HTTPS (like an iLO), so the emulator needs a certificate: this
script makes one in .tls/ when there is none (with openssl, as 0-ReadMeFirst does), then replaces
itself with sushy-emulator. Launched from the portal, each learner's own emulator is started this
way (workshop.yml `lab:`); by hand:

    python3 start_emulator.py --port 8443
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path


def main(argv=None):
    parser = argparse.ArgumentParser(description="Start the workshop's HTTPS Redfish emulator.")
    parser.add_argument("--port", type=int, default=8443)
    args = parser.parse_args(argv)
    tls = Path(".tls")
    tls.mkdir(mode=0o700, exist_ok=True)
    if not (tls / "cert.pem").exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                        "-subj", "/CN=localhost", "-keyout", str(tls / "key.pem"), "-out", str(tls / "cert.pem")],
                       check=True, capture_output=True)
    exe = shutil.which("sushy-emulator") or str(Path(sys.executable).parent / "sushy-emulator")
    os.execv(exe, [exe, "-i", "127.0.0.1", "-p", str(args.port), "--config", "sushy-emulator.conf",
                   "--ssl-certificate", str(tls / "cert.pem"), "--ssl-key", str(tls / "key.pem")])


if __name__ == "__main__":
    main()
