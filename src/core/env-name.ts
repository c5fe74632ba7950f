/** A POSIX environment variable name, as `env NAME=value` and every shell accept it. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
