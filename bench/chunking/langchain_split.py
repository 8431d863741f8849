"""Chunking comparison, Python side.

    python langchain_split.py time FILE CHUNK_CHARS
        Times LangChain's RecursiveCharacterTextSplitter(chunk_size=CHUNK_CHARS,
        chunk_overlap=0) on FILE (UTF-8) and prints one JSON line:
        {"splitter": "langchain-recursive", "mb_per_s": ..., "chunks": ...}
        Only split_text is timed; MB are 10^6 bytes of the UTF-8 file.

    python langchain_split.py generate FILE MEGABYTES
        Writes a deterministic English-like text of about MEGABYTES MB: paragraphs of
        sentences separated by blank lines, some long paragraphs, some short lines.
"""

import json
import random
import sys
import time


def time_split(path: str, chunk_chars: int) -> None:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    with open(path, encoding="utf-8") as file:
        text = file.read()
    size = len(text.encode("utf-8"))
    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_chars, chunk_overlap=0)
    started = time.perf_counter()
    chunks = splitter.split_text(text)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "splitter": "langchain-recursive",
                "mb_per_s": round(size / 1e6 / seconds, 2),
                "chunks": len(chunks),
                "bytes": size,
                "seconds": round(seconds, 3),
                "chunk_chars": chunk_chars,
            }
        )
    )


WORDS = (
    "budget travel team report quarter review meeting policy hotel train contract "
    "invoice approval customer project deadline schedule office supplier delivery "
    "analysis revenue forecast risk plan summary update agenda decision action item "
    "the a of and to in for on with by from at as is was will be has have"
).split()


def generate(path: str, megabytes: float) -> None:
    rng = random.Random(42)
    target = int(megabytes * 1e6)
    written = 0
    with open(path, "w", encoding="utf-8") as file:
        while written < target:
            sentences = rng.choice([1, 3, 5, 8, 40])
            paragraph = " ".join(
                " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 24))).capitalize() + "."
                for _ in range(sentences)
            )
            if rng.random() < 0.1:
                paragraph = paragraph.replace(". ", ".\n", 3)
            chunk = paragraph + "\n\n"
            file.write(chunk)
            written += len(chunk.encode("utf-8"))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "time":
        time_split(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 4 and sys.argv[1] == "generate":
        generate(sys.argv[2], float(sys.argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
