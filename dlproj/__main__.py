"""`python -m dlproj [overrides]` and the `dlproj` command: `--help` is answered from conf/ alone,
before Hydra is imported (dlproj.list.help_text); everything else goes to the Hydra application
in dlproj/runtime/app.py."""

import sys


def main() -> None:
    if any(a in ("--help", "-h") for a in sys.argv[1:]):
        from dlproj.errors import stdout_closed
        from dlproj.list import help_text

        try:
            print(help_text(), flush=True)
        except BrokenPipeError:  # `--help | head`
            sys.exit(stdout_closed())
        return
    from dlproj.errors import stopped

    def run() -> None:
        from dlproj.runtime.app import main as app  # Hydra's import alone takes 0.2 s

        app()  # which takes the signals itself once it has read the command line

    sys.exit(stopped(run, "dlproj"))


if __name__ == "__main__":
    main()
