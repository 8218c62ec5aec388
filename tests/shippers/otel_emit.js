// Emits log records through the OpenTelemetry SDK for Node.js, configured by
// the OTEL_* environment variables alone (as an application would be), then
// shuts the SDK down, which flushes what its batch processor holds.
//   node otel_emit.js COUNT [INTERVAL_MS]
// Record i has the body "otel line NNNN" and is ERROR when i % 5 == 0, else INFO.
// Prints "emitted N" when all are emitted and "shutdown ok" once flushed.
const { NodeSDK } = require('@opentelemetry/sdk-node');
const { logs } = require('@opentelemetry/api-logs');

const count = parseInt(process.argv[2] || '10', 10);
const interval = parseInt(process.argv[3] || '0', 10);
const sdk = new NodeSDK();
sdk.start();
const logger = logs.getLogger('anomalog-test');

function emit(i) {
  const error = i % 5 === 0;
  logger.emit({
    severityNumber: error ? 17 : 9, // ERROR, INFO
    severityText: error ? 'ERROR' : 'INFO',
    body: 'otel line ' + String(i).padStart(4, '0'),
    attributes: { 'order.id': i },
  });
}

async function main() {
  for (let i = 0; i < count; i++) {
    emit(i);
    if (interval > 0) await new Promise((r) => setTimeout(r, interval));
  }
  console.log('emitted ' + count);
  await sdk.shutdown();
  console.log('shutdown ok');
}

main().catch((e) => { console.error(e); process.exit(1); });
