"""The local debugging SMTP server of `make run`: prints each message and keeps it in var/mail/."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from aiosmtpd.controller import Controller


class KeepHandler:
    def __init__(self, folder: Path):
        self.folder = folder

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        path = self.folder / f"{stamp}.eml"
        path.write_bytes(envelope.content)
        subject = next((line for line in envelope.content.decode(errors="replace").splitlines()
                        if line.lower().startswith("subject:")), "Subject: (none)")
        print(f"mail to {', '.join(envelope.rcpt_tos)} | {subject} | saved {path}", flush=True)
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")  # 0.0.0.0 inside the dev compose network
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--folder", default="var/mail")
    args = parser.parse_args()
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(KeepHandler(folder), hostname=args.host, port=args.port)
    controller.start()
    print(f"local SMTP server on {args.host}:{args.port}, keeping messages in {folder}/", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
