"""What the AMQP links of a Service Bus connection do, on top of :mod:`adapters.servicebus.amqp`
(the protocol) and :mod:`adapters.servicebus.broker` (the messaging):

- :mod:`.application`: authentication (CBS), and which handler serves each attached link;
- :mod:`.cbs`: the ``$cbs`` node (``put-token``);
- :mod:`.entity`: a client's senders to queues/topics and receivers on queues,
  subscriptions, dead-letter queues and sessions;
- :mod:`.management`: the ``<entity>/$management`` request/response node;
- :mod:`.replies`: the links replies go out on;
- :mod:`.convert`: AMQP messages to broker messages and back.
"""
