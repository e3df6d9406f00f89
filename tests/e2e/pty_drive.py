"""Types Vietnamese into `aero chat` and `aero generate` through a real pseudo-terminal, the way
a person at a terminal does, and checks what the model received.

    pty_drive.py AERO MODEL WORKDIR LOCALE      (LOCALE: C, none, or a LANG such as C.UTF-8)

Chat: each turn is a list of keystrokes (text, backspace, arrows, Home/End, history recall).
A reference line editor, working by code point, replays the same keys to get the line the user
meant; the test asserts that chat's --prompt-log holds exactly that line in NFC, and that the
prompt decoded from the model's tokens ends with it. The tty's own state (raw while libedit
reads a line, cooked while the reply is generated) tells when aero waits for input.
"""

import fcntl
import json
import os
import struct
import subprocess
import sys
import termios
import threading
import time
import unicodedata

VOWELS = "aăâeêioôơuưy"
TONES = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]  # ngang huyền sắc hỏi ngã nặng
LOWER = [unicodedata.normalize("NFC", v + t) for v in VOWELS for t in TONES] + ["đ"]
UPPER = [c.upper() for c in LOWER]
assert len(LOWER) == 73 and all(len(c) == 1 for c in LOWER + UPPER)

BS, LEFT, RIGHT, UP, HOME, END = "\x7f", "\x1b[D", "\x1b[C", "\x1b[A", "\x01", "\x05"
IUTF8 = getattr(termios, "IUTF8", 0o40000)  # Linux; Python's termios lacks it
KEY_NAMES = {BS: "BS", LEFT: "LEFT", RIGHT: "RIGHT", UP: "UP", HOME: "HOME", END: "END"}


def nfc(s):
    return unicodedata.normalize("NFC", s)


class Editor:
    """What a line editor that works by character does with the keys; history holds the lines
    entered before, in NFC as chat adds them."""

    def __init__(self, history):
        self.buf, self.cur, self.hist, self.hpos = [], 0, history, len(history)

    def press(self, kind, value):
        if kind == "type":
            for ch in value:
                self.buf.insert(self.cur, ch)
                self.cur += 1
        elif value == BS:
            if self.cur > 0:
                del self.buf[self.cur - 1]
                self.cur -= 1
        elif value == LEFT:
            self.cur = max(0, self.cur - 1)
        elif value == RIGHT:
            self.cur = min(len(self.buf), self.cur + 1)
        elif value == HOME:
            self.cur = 0
        elif value == END:
            self.cur = len(self.buf)
        elif value == UP:
            self.hpos = max(0, self.hpos - 1)
            self.buf = list(self.hist[self.hpos])
            self.cur = len(self.buf)

    def line(self):
        return "".join(self.buf)


def T(text):
    return ("type", text)


def K(key, n=1):
    return [("key", key)] * n


def chat_turns():
    """(name, keys) per turn: every tone on every vowel in both cases plus đ/Đ, edited."""
    edited = []
    for i, c in enumerate(LOWER + UPPER):
        edited.append(T(c))
        if i % 4 == 0:  # a three-byte letter typed and taken back
            edited += [T("ữ")] + K(BS)
        elif i % 4 == 1:  # a letter inserted before the one just typed
            edited += K(LEFT) + [T("ặ")] + K(RIGHT)
        elif i % 4 == 2:  # the cursor crosses multibyte letters both ways
            edited += [T("Ợ")] + K(LEFT, 2) + K(RIGHT, 2) + K(BS)
    edited += K(HOME) + K(RIGHT, 3) + K(BS) + [T("Ỵ")] + K(END) + K(BS) + [T("!")]
    return [
        ("the issue's sentence", [T("Xin chàoo"), *K(BS), T(", bạn là ai?")]),
        ("every lower-case letter", [T(" ".join(LOWER))]),
        ("every upper-case letter", [T(" ".join(UPPER))]),
        ("every letter, edited", edited),
        ("history: the last line, edited", K(UP) + K(LEFT, 5) + K(BS, 2) + [T("đĐ")]),
        ("history: two lines back", K(UP, 2)),
        ("combining marks", [T("Tie\u0302\u0301ng Vie\u0323\u0302t: a\u0323 A\u0300 "
                               "o\u031b\u0309 U\u031b\u0303 e\u0302\u0323 Y\u0301 đ")]),
        ("combining marks, edited after", [T("Vie\u0323\u0302t x"), *K(BS, 2), T(" Nam")]),
    ]


class Pty:
    """A child process on a new pseudo-terminal (its controlling tty), 120 columns wide."""

    def __init__(self, argv, env, stdout=None):
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.out = bytearray()
        self.proc = subprocess.Popen(
            argv, stdin=self.slave, stdout=stdout if stdout else self.slave, stderr=self.slave,
            env=env, start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        while True:
            try:
                b = os.read(self.master, 4096)
            except OSError:
                return
            if not b:
                return
            self.out += b

    def send(self, keys):
        data = "".join(v for _, v in keys).encode()
        for i in range(0, len(data), 256):  # the pty's input queue is a few KiB
            os.write(self.master, data[i:i + 256])
            time.sleep(0.01)

    def lflag(self):
        return termios.tcgetattr(self.slave)[3]

    def iflag(self):
        return termios.tcgetattr(self.slave)[0]

    def wait(self, cond, what, timeout=120):
        end = time.time() + timeout
        while not cond():
            if self.proc.poll() is not None and not cond():
                self.fail(f"exited with {self.proc.returncode} while waiting for {what}")
            if time.time() > end:
                self.fail(f"timed out waiting for {what}")
            time.sleep(0.02)

    def fail(self, msg):
        tail = self.out[-3000:].decode("utf-8", "replace")
        sys.exit(f"FAIL: {msg}\n--- terminal output (tail) ---\n{tail}")

    def close(self):
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.fail("did not exit")
        os.close(self.slave)
        os.close(self.master)
        return self.proc.returncode


def env_for(locale, home):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "TERM": "xterm",
           "OMP_NUM_THREADS": "1"}
    if locale == "C":
        env["LC_ALL"] = "C"
    elif locale != "none":  # none: no locale variable at all, as in many containers
        env["LANG"] = locale
    return env


def check_chat(aero, model, work, locale):
    log = os.path.join(work, f"prompts.{locale}.jsonl")
    if os.path.exists(log):
        os.remove(log)
    argv = [aero, "chat", "-m", model, "--max-new", "4", "--temperature", "0", "--threads", "1",
            "--prompt-log", log]
    t = Pty(argv, env_for(locale, work))

    def entries():
        if not os.path.exists(log):
            return []
        with open(log, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.endswith("\n")]

    def reading():  # libedit holds the tty in raw mode while it reads a line
        return not t.lflag() & termios.ICANON

    history = []
    t.wait(reading, "the first prompt")
    for n, (name, keys) in enumerate(chat_turns()):
        ed = Editor(history)
        for kind, value in keys:
            ed.press(kind, value)
        want = nfc(ed.line()).strip()
        t.send(keys + [("key", "\r")])
        t.wait(lambda: len(entries()) > n, f"turn {n} ({name}) in the prompt log")
        got = entries()[n]
        if got["message"] != want:
            shown = " ".join(KEY_NAMES.get(v, repr(v)) for _, v in keys)
            t.fail(f"{locale}: turn {n} ({name}): the model received\n  {got['message']!r}\n"
                   f"instead of\n  {want!r}\nkeys: {shown}")
        if not got["prompt"].endswith("User: " + want + "\nAssistant:"):
            t.fail(f"{locale}: turn {n} ({name}): the prompt decoded from the model's tokens "
                   f"does not end with the message: {got['prompt'][-300:]!r}")
        history.append(want)
        t.wait(reading, f"the prompt after turn {n}")
    t.send([T("/quit\r")])
    rc = t.close()
    text = t.out.decode("utf-8", "replace")
    if rc != 0 or "no UTF-8 locale" in text or "[utf8]" in text:
        t.fail(f"{locale}: chat ended with {rc}")
    print(f"chat-pty-{locale}-ok: {len(history)} turns")


def check_generate(aero, model, work, locale):
    """`aero generate` with the prompt typed at the terminal: the kernel edits the line (IUTF8
    set by aero), Ctrl-D ends it; stdout starts with the prompt as the model got it."""
    path = os.path.join(work, f"generate.{locale}.out")
    with open(path, "wb") as out:
        t = Pty([aero, "generate", "-m", model, "--max-new", "2", "--temperature", "0"],
                env_for(locale, work), stdout=out)
        t.wait(lambda: t.iflag() & IUTF8, "IUTF8 on the terminal")
        t.send([T("Tiếng Việtữ"), *K(BS), T(" Vie\u0323\u0302t\n\x04")])
        rc = t.close()
    with open(path, "rb") as f:
        got = f.read().decode("utf-8", "replace")
    want = "Tiếng Việt Việt"
    if rc != 0 or not got.startswith(want):
        t.fail(f"{locale}: generate exited {rc}, wrote {got!r}, wanted it to start with {want!r}")
    print(f"generate-pty-{locale}-ok")


def main():
    aero, model, work, locale = sys.argv[1:5]
    check_chat(aero, model, work, locale)
    check_generate(aero, model, work, locale)


if __name__ == "__main__":
    main()
