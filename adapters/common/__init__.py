"""What several channels share and no channel owns: installation facts, typed channel settings, URL checks,
text fitting, portal views and links, the sandbox kit. Imports nothing of producers, processors or govcast."""
