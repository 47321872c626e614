// The worker's own messages on its console: one line each, with the time and a level.

function line(level, message) {
  return `${new Date().toISOString()} ${level.padEnd(5)} ${message}`;
}

export const say = {
  info: (message) => console.log(line('INFO', message)),
  warn: (message) => console.error(line('WARN', message)),
  error: (message) => console.error(line('ERROR', message)),
};
