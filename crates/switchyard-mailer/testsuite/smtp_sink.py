"""A test SMTP server (aiosmtpd) for the mailer's tests: `SmtpSink` in
crates/switchyard-mailer/src/testsuite.rs starts it on a loopback port it reserved.

    python3 smtp_sink.py PORT DIR [--tls starttls|implicit CERT KEY] [--login USER PASSWORD]

With `--tls starttls` the server requires STARTTLS before MAIL; with `--tls implicit` it
speaks TLS from the first byte. With `--login`, AUTH (PLAIN or LOGIN) with that user and
password is required before MAIL.

Each message's DATA is one attempt, appended to DIR/attempts.jsonl (time, envelope
sender and recipients, X-Event-Id, the reply code). An accepted message is also written
to DIR/mail-NNNNNN.eml. DIR/control.json says whether to refuse, read at every DATA:

    {"generation": 3, "code": 421, "message": "...", "first": 2, "recipient": "a@x"}

`code` null accepts everything; otherwise messages (to `recipient` only, when given) are
refused with `code`, all of them or the `first` N of this generation.
"""

import argparse
import asyncio
import email.parser
import email.policy
import json
import os
import ssl
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.generation = None
        self.refused = 0
        self.accepted = 0

    def control(self):
        try:
            with open(os.path.join(self.directory, "control.json")) as file:
                return json.load(file)
        except (OSError, ValueError):
            return {}

    def record(self, attempt):
        with open(os.path.join(self.directory, "attempts.jsonl"), "a") as file:
            file.write(json.dumps(attempt) + "\n")
            file.flush()

    async def handle_DATA(self, server, session, envelope):
        at = time.time()
        headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(
            envelope.original_content or envelope.content
        )
        control = self.control()
        if control.get("generation") != self.generation:
            self.generation = control.get("generation")
            self.refused = 0
        code = control.get("code")
        first = control.get("first")
        recipient = control.get("recipient")
        refuse = (
            code is not None
            and (first is None or self.refused < first)
            and (recipient is None or recipient in envelope.rcpt_tos)
        )
        attempt = {
            "at": at,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "event_id": headers.get("X-Event-Id"),
            "code": code if refuse else 250,
            "tls": server.transport.get_extra_info("ssl_object") is not None
            or session.ssl is not None,
            "authenticated": bool(session.authenticated),
        }
        if refuse:
            self.refused += 1
            self.record(attempt)
            message = control.get("message") or "refused by the test sink"
            return f"{code} {message}"
        self.accepted += 1
        path = os.path.join(self.directory, f"mail-{self.accepted:06}.eml")
        with open(path + ".tmp", "wb") as file:
            file.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        self.record(attempt)
        return "250 Message accepted for delivery"


def authenticator(login):
    user, password = login

    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)

    return check


async def main(arguments):
    sink = Sink(arguments.dir)
    context = None
    if arguments.tls:
        mode, cert, key = arguments.tls
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    starttls = arguments.tls is not None and arguments.tls[0] == "starttls"
    implicit = arguments.tls is not None and arguments.tls[0] == "implicit"
    options = {"hostname": "smtp-sink.test", "enable_SMTPUTF8": True}
    if starttls:
        options.update(tls_context=context, require_starttls=True)
    if arguments.login:
        options.update(
            authenticator=authenticator(arguments.login),
            auth_required=True,
            # Implicit TLS has no STARTTLS, which aiosmtpd takes for "no TLS".
            auth_require_tls=not implicit,
        )
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(sink, **options),
        host="127.0.0.1",
        port=arguments.port,
        reuse_address=True,
        ssl=context if implicit else None,
    )
    print(f"smtp sink listening on 127.0.0.1:{arguments.port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("dir")
    parser.add_argument("--tls", nargs=3, metavar=("MODE", "CERT", "KEY"))
    parser.add_argument("--login", nargs=2, metavar=("USER", "PASSWORD"))
    asyncio.run(main(parser.parse_args()))
