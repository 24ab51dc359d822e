"""The bench's exec task in Python: one interpreter per job (the cost a
task server saves). Result = args."""
import sys

sys.stdout.write(sys.stdin.read())
