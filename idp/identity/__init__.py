"""Identity domain: civil registry, accounts, passwords, second factors, recovery. No Flask here."""
