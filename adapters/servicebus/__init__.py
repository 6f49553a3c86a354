"""Service Bus emulator: entities, the AMQP broker, the management API and the rule engine."""
