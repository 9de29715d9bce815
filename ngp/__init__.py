"""ngp: provision the Next Generation Platform on AWS with boto3 and a JSON state file."""

__version__ = "0.1.0"
