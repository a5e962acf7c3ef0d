/**
 * The runtime's log, shaped like runc's: `--log FILE` with `--log-format
 * text|json`. containerd reads the JSON form (`{"level","msg","time"}`) to
 * report why a runtime command failed, so errors always go there too.
 */
import { appendFileSync } from 'node:fs';

export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

export interface Logger {
  debug(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface LoggerOptions {
  file?: string;
  format?: 'text' | 'json';
  debug?: boolean;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const write = (level: LogLevel, msg: string): void => {
    if (level === 'debug' && !options.debug) return;
    const time = new Date().toISOString();
    if (options.file) {
      const line = options.format === 'json'
        ? JSON.stringify({ level, msg, time }) + '\n'
        : `time="${time}" level=${level} msg=${JSON.stringify(msg)}\n`;
      try {
        appendFileSync(options.file, line);
      } catch {
        // The log is best effort: a full disk must not turn success into failure.
      }
    } else if (level !== 'error') {
      process.stderr.write(`${level}: ${msg}\n`);
    }
  };
  return {
    debug: (m) => write('debug', m),
    warn: (m) => write('warning', m),
    error: (m) => write('error', m),
  };
}

export const silentLogger: Logger = { debug() {}, warn() {}, error() {} };
