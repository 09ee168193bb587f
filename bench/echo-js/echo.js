exports.echo = ({ word }) => ({ echo: word });
