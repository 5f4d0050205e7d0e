"""A small OPC UA instrument for Labhook's tests: a real OPC UA server (the `asyncua` package,
FreeOpcUa's Python stack, which Labhook did not write) with a LADS-like address space — an
incubator with a temperature, a state and a writable set point.

    python instrument.py PORT

It prints `ready` once it listens on opc.tcp://127.0.0.1:PORT/labhook/, then reads commands from
standard input, one a line, and answers each with `ok`:

    set NAME VALUE     writes VALUE (a number, or text for State) to Incubator.NAME
    quit               stops the server
"""

import asyncio
import logging
import sys

from asyncua import Server, ua

NAMESPACE = "urn:labhook:test-instrument"


async def main(port: int) -> None:
    logging.basicConfig(level=logging.ERROR)
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/labhook/")
    server.set_server_name("Labhook test instrument")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    idx = await server.register_namespace(NAMESPACE)

    device = await server.nodes.objects.add_object(ua.NodeId("Incubator", idx), "Incubator")
    variables = {}
    temperature = await device.add_variable(
        ua.NodeId("Incubator.Temperature", idx), "Temperature", 20.0, ua.VariantType.Double
    )
    await temperature.add_property(
        idx,
        "EngineeringUnits",
        ua.EUInformation(DisplayName=ua.LocalizedText("°C"), UnitId=4408652),
    )
    await temperature.add_property(idx, "EURange", ua.Range(Low=0.0, High=100.0))
    variables["Temperature"] = temperature
    variables["State"] = await device.add_variable(
        ua.NodeId("Incubator.State", idx), "State", "Idle", ua.VariantType.String
    )
    set_point = await device.add_variable(
        ua.NodeId("Incubator.SetPoint", idx), "SetPoint", 37.0, ua.VariantType.Double
    )
    await set_point.set_writable()
    variables["SetPoint"] = set_point

    async with server:
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = (await reader.readline()).decode().strip()
            if not line or line == "quit":
                break
            command, name, value = line.split(" ", 2)
            assert command == "set", line
            var = variables[name]
            if name == "State":
                await var.write_value(value, ua.VariantType.String)
            else:
                await var.write_value(float(value), ua.VariantType.Double)
            print("ok", flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
