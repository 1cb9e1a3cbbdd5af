"""Every text the collector app (app/web/collect/js) says through t(), for the catalogues.

The app's JavaScript looks each English text up in /collect/i18n/{locale}.json ("ui"), made
from these; placeholders are Python's %(name)s. tests/js/i18n.test.mjs checks that every
t("...") of the app is listed here and that nothing listed is unused.
"""

from __future__ import annotations

from app.core.messages import N_

STRINGS = (
    # sign-in
    N_("Collector"),
    N_("Language"),
    N_("Sign in"),
    N_("Organisation"),
    N_("Username"),
    N_("Password"),
    N_("Your session has ended."),
    N_("Sign in again to send %(count)s waiting receipts"),
    N_("Enter the organisation, your username and your password."),
    N_("No connection: signing in needs the network."),
    N_("Signing in failed (%(status)s)."),
    # header and status line
    N_("Sign out"),
    N_(
        "Receipts waiting to be sent: %(count)s. Sign out anyway? They stay on this phone and are sent when you sign in again."
    ),
    N_("Sync now"),
    N_("%(n)s waiting"),
    N_("1 waiting"),
    N_("%(n)s rejected"),
    N_("1 rejected"),
    N_("sending"),
    N_("offline"),
    N_("the server did not answer; will retry"),
    N_("last sync %(time)s"),
    N_("This phone could not store the receipts: free some space."),
    # the day
    N_("Today"),
    N_("Recorded on this phone"),
    N_("Waiting"),
    N_("Posted"),
    N_("Rejected"),
    N_("Posted on the server today"),
    N_("Cash held"),
    N_("Last hand-over"),
    N_("none yet"),
    # the recording form
    N_("New receipt"),
    N_("Member number or plate"),
    N_("Amount"),
    N_("Channel"),
    N_("Cash"),
    N_("Mobile money"),
    N_("Bank"),
    N_("Reference"),
    N_("Optional: a mobile money or bank reference."),
    N_("Save"),
    N_("Cancel"),
    N_("Changing the receipt of %(payer)s."),
    N_("Enter a member number or plate."),
    N_("Enter the amount."),
    N_("Enter an amount greater than zero."),
    N_("Enter an amount such as %(example)s."),
    N_("%(currency)s allows at most %(count)s decimals"),
    N_("%(currency)s has no minor unit: amounts are whole numbers"),
    N_("amount is beyond the supported range"),
    N_("This receipt can no longer be changed."),
    N_("not in your round: the server will check it"),
    # the receipts
    N_("Receipts"),
    N_("No receipts on this phone yet."),
    N_("waiting"),
    N_("posted"),
    N_("rejected"),
    N_("No. %(number)s"),
    N_("Edit"),
    N_("Delete"),
    N_("Slip"),
    # the round
    N_("My round"),
    N_("Amounts as of %(day)s."),
    N_("No payers in your round yet."),
    N_("Due today: %(amount)s"),
    N_("Arrears: %(amount)s"),
    N_("Paid through %(day)s"),
    N_("Nothing paid yet"),
    N_("recorded today"),
    N_("Record"),
    # the slip
    N_("Receipt No. %(number)s"),
    N_("Provisional receipt (not yet posted)"),
    N_("Payer: %(payer)s"),
    N_("Amount: %(amount)s"),
    N_("Channel: %(channel)s"),
    N_("Reference: %(reference)s"),
    N_("Periods paid:"),
    N_("%(start)s to %(end)s: %(amount)s"),
    N_("Date: %(when)s"),
    N_("Collector: %(name)s"),
    N_("Share"),
    N_("Copy"),
    N_("Print"),
    N_("Close"),
    N_("Copied."),
    N_("Select the text and copy it."),
    N_(
        "The server had this receipt already, for %(amount)s: the change to %(recorded)s was not taken."
    ),
    # signing in with an API key made for the collector
    N_("Use an API key instead"),
    N_("API key"),
    N_("Use the key"),
    N_("Enter the API key."),
)
