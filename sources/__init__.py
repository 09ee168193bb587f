"""Event sources: the HTTP front (nginx + Lua) and, later, the RabbitMQ source."""
