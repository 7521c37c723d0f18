"""An `amqps://` broker URL gets TLS verified against the deployment's CA; `amqp://` stays plain."""

import ssl

from shared.bus.topology import connection_parameters


def test_amqps_verifies_the_broker_by_its_name():
    parameters = connection_parameters("amqps://nuanliu:secret@rabbit.nuanliu-data.svc:5671/%2F")
    assert parameters.ssl_options is not None
    assert parameters.ssl_options.server_hostname == "rabbit.nuanliu-data.svc"
    assert parameters.ssl_options.context.verify_mode == ssl.CERT_REQUIRED
    assert parameters.ssl_options.context.check_hostname


def test_amqp_is_plain():
    assert connection_parameters("amqp://guest:guest@127.0.0.1:5672/%2F").ssl_options is None
