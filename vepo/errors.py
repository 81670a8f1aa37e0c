"""User-facing errors: the CLI prints them as one line and exits with code 2."""


class VepoError(Exception):
    """A problem with the user's input (config, path, file format): says what, where and how to fix."""

    exit_code = 2
