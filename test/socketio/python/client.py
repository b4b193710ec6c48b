"""A python-socketio 5.x client driven by the tests, written as livestream-api.md's Python example is.

    client.py URL [--token JWT] [--query k=v ...] [--transport websocket|polling]

Prints one JSON line per thing it sees: {"event": name, "data": ...} for every server event, {"ack": event,
"data": ...} for acknowledgements, {"connect_error": ...}. Reads one JSON command per line on stdin:
{"emit": event, "data": ...} or {"call": event, "data": ...} (an emit with an acknowledgement callback).
"""
import argparse
import json
import sys
from urllib.parse import urlencode

import socketio


def report(**fields):
    print(json.dumps(fields), flush=True)


parser = argparse.ArgumentParser()
parser.add_argument('url')
parser.add_argument('--token')
parser.add_argument('--query', action='append', default=[])
parser.add_argument('--transport', action='append')
args = parser.parse_args()

# WebSocket connection
sio = socketio.Client()


@sio.event
def connect():
    report(event='connect', data=None)


@sio.event
def connect_error(data):
    report(connect_error=data)


@sio.on('*')
def any_event(event, data=None):
    report(event=event, data=data)


query = dict(pair.split('=', 1) for pair in args.query)
url = args.url + ('?' + urlencode(query) if query else '')
try:
    sio.connect(url, auth={'token': args.token} if args.token else None, transports=args.transport)
except socketio.exceptions.ConnectionError as err:
    report(connect_failed=str(err))
    sys.exit(0)

for line in sys.stdin:
    command = json.loads(line)
    if 'emit' in command:
        sio.emit(command['emit'], command.get('data'))
    else:
        report(ack=command['call'], data=sio.call(command['call'], command.get('data'), timeout=10))
sio.disconnect()
