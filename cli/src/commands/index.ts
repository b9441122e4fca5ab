// Every command of the CLI, in the order help lists them.
import type { Command } from '../command.js';
import { KEY_COMMANDS } from './keys.js';
import { LOGIN_COMMAND } from './login.js';
import { NODE_COMMANDS } from './nodes.js';
import { USAGE_COMMANDS } from './usage.js';

export const COMMANDS: readonly Command[] = [...KEY_COMMANDS, ...NODE_COMMANDS, ...USAGE_COMMANDS, LOGIN_COMMAND];
