"""The RabbitMQ source (aio-pika): lands with its own issue."""
