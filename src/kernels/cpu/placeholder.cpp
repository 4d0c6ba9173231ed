// Placeholder until the first kernel lands.
namespace kinema {}
