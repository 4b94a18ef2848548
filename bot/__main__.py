from bot.cli import main

# (Guarded: the root-cause engine's process is started by multiprocessing, which imports the main module again.)
if __name__ == "__main__":
    raise SystemExit(main())
