"""Transaction errors as text, worded as agave's RPC server words them.

Clients match on this text ("Blockhash not found", "already been processed"),
so the messages copy the Display strings of agave's ``TransactionError`` and
``InstructionError`` for the errors this chain produces. Other variants fall
back to their name split into lowercase words.
"""

from __future__ import annotations

import re
from typing import Any

TRANSACTION_ERROR_TEXT = {
    "AccountInUse": "Account in use",
    "AccountLoadedTwice": "Account loaded twice",
    "AccountNotFound": (
        "Attempt to debit an account but found no record of a prior credit."
    ),
    "ProgramAccountNotFound": "Attempt to load a program that does not exist",
    "InsufficientFundsForFee": "Insufficient funds for fee",
    "InvalidAccountForFee": "This account may not be used to pay transaction fees",
    "AlreadyProcessed": "This transaction has already been processed",
    "BlockhashNotFound": "Blockhash not found",
    "CallChainTooDeep": "Loader call chain is too deep",
    "MissingSignatureForFee": "Transaction requires a fee but has no signature present",
    "InvalidAccountIndex": "Transaction contains an invalid account reference",
    "SignatureFailure": "Transaction did not pass signature verification",
    "InvalidProgramForExecution": (
        "This program may not be used for executing instructions"
    ),
    "SanitizeFailure": "Transaction failed to sanitize accounts offsets correctly",
    "UnsupportedVersion": "Transaction version is unsupported",
    "InvalidWritableAccount": (
        "Transaction loads a writable account that cannot be written"
    ),
    "TooManyAccountLocks": "Transaction locked too many accounts",
    "InvalidRentPayingAccount": (
        "Transaction leaves an account with a lower balance than rent-exempt minimum"
    ),
    "MaxLoadedAccountsDataSizeExceeded": (
        "Transaction exceeded max loaded accounts data size cap"
    ),
}

INSTRUCTION_ERROR_TEXT = {
    "GenericError": "generic instruction error",
    "InvalidArgument": "invalid program argument",
    "InvalidInstructionData": "invalid instruction data",
    "InvalidAccountData": "invalid account data for instruction",
    "AccountDataTooSmall": "account data too small for instruction",
    "InsufficientFunds": "insufficient funds for instruction",
    "IncorrectProgramId": "incorrect program id for instruction",
    "MissingRequiredSignature": "missing required signature for instruction",
    "AccountAlreadyInitialized": "instruction requires an uninitialized account",
    "UninitializedAccount": "instruction requires an initialized account",
    "IncorrectAuthority": "Incorrect authority provided",
    "Immutable": "Account is immutable",
    "ComputationalBudgetExceeded": "Computational budget exceeded",
}


def describe_transaction_error(err: Any) -> str:
    """Return the text of a transaction error given in its RPC JSON form."""
    if isinstance(err, str):
        return TRANSACTION_ERROR_TEXT.get(err, _words(err))
    if isinstance(err, dict) and len(err) == 1:
        ((name, value),) = err.items()
        if name == "InstructionError":
            index, instruction_error = value
            text = _describe_instruction_error(instruction_error)
            return f"Error processing Instruction {index}: {text}"
        if name == "InsufficientFundsForRent":
            return (
                f"Transaction results in an account ({value['account_index']}) "
                f"with insufficient funds for rent"
            )
        return f"{_words(name)} ({value})"
    return str(err)


def _describe_instruction_error(err: Any) -> str:
    if isinstance(err, str):
        return INSTRUCTION_ERROR_TEXT.get(err, _words(err))
    if isinstance(err, dict) and "Custom" in err:
        return f"custom program error: {err['Custom']:#x}"
    return str(err)


def _words(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()
