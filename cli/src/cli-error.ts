/** A failure the CLI reports as one line on stderr (prefixed `switchyard: `), exiting with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A mistake in the command line itself: exit code 2, like most Unix tools. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}

/** The admin API refused a request (a 4xx with its own message): the HTTP status lets a command name the fix. */
export class ApiError extends CliError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message, 1);
    this.name = 'ApiError';
  }
}
